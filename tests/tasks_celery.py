"""Fixture tasks of tests/test_celery.py."""

import os
import time

from autotask.tasks import delayed_task

from .models import Note


@delayed_task()
def sleep_in_steps(seconds, key):
    """Python code that runs for ``seconds``: a cancel stops it at its next step."""
    Note.objects.create(key=key, value="started", pid=os.getpid())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    Note.objects.create(key=key, value="finished", pid=os.getpid())
    return "finished"


@delayed_task(retries=1)
def slow_once(key, seconds=3):
    """The first run takes ``seconds`` (long enough to kill its worker during it), later ones are quick."""
    runs = Note.objects.filter(key=key).count()
    Note.objects.create(key=key, value="started", pid=os.getpid())
    if runs == 0:
        time.sleep(seconds)
    return runs + 1
