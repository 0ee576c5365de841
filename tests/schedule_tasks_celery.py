"""A fixture schedule of tests/test_celery.py, run by the Celery workers that import it (--include)."""

import os

from autotask.tasks import periodic_task

from .models import Note


@periodic_task(seconds=1, start_now=True, queue_name="scheduled")
def every_second():
    Note.objects.create(key="celery_every_second", pid=os.getpid())
