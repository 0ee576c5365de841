"""Fixture schedules of the admin's browser tests (imported by their worker)."""

import os

from autotask.tasks import cron_task, periodic_task

from .models import Note


@cron_task(cron="0 0 29 2 *")  # only on 29 February: never due while a test runs, only run from the admin
def rarely():
    Note.objects.create(key="rarely", pid=os.getpid())


@periodic_task(seconds=1, start_now=True)
def every_second_admin():
    Note.objects.create(key="every_second_admin", pid=os.getpid())
