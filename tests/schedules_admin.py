"""Fixture schedules of the admin's browser tests (imported by their worker)."""

import os

from autotask.tasks import cron_task, periodic_task

from .models import Note


@cron_task(crontab="0 * * * *")
def hourly():
    Note.objects.create(key="hourly", pid=os.getpid())


@periodic_task(seconds=1, start_now=True)
def every_second_admin():
    Note.objects.create(key="every_second_admin", pid=os.getpid())
