"""Fixture tasks of the admin's tests, named for what they do."""

import os
import time

import autotask
from autotask.tasks import delayed_task

from .models import Note


@delayed_task(delay=3600)
def due_in_an_hour(i=0):
    return i


@delayed_task()
def fail_until_noted(key):
    """Fails until a Note with ``key`` exists (so that a retry can succeed)."""
    if not Note.objects.filter(key=key).exists():
        raise RuntimeError(f"no note {key!r} yet")
    return key


@delayed_task()
def work_slowly(key, seconds=600):
    """Runs until cancelled (or ``seconds``), reporting progress."""
    Note.objects.create(key=key, value="started", pid=os.getpid())
    autotask.current_task().set_progress(10)
    time.sleep(seconds)
    return key
