"""Fixture schedules; imported only by the tests (and workers) that want them running."""

import os

from autotask.tasks import cron_task, periodic_task

from .models import Note


@periodic_task(seconds=1, start_now=True)
def every_second():
    Note.objects.create(key="every_second", pid=os.getpid())


@cron_task(crontab="* * * * *")
def every_minute():
    Note.objects.create(key="every_minute", pid=os.getpid())


@periodic_task(seconds=1, start_now=True)
def failing_every_second():
    Note.objects.create(key="failing", pid=os.getpid())
    raise RuntimeError("scheduled failure")
