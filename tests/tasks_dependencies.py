"""Fixture tasks for dependencies (after=): each run writes a Note, so tests read what ran, in which order."""

import os
import time

from autotask.tasks import delayed_task

from .models import Note


@delayed_task()
def step(key, label):
    Note.objects.create(key=key, value=label, pid=os.getpid())
    return label


@delayed_task()
def fail_step(key, label):
    Note.objects.create(key=key, value=label, pid=os.getpid())
    raise ValueError(f"{label} failed")


@delayed_task(retries=1, retry_delay=0)
def slow_step(key, label, seconds):
    """Notes its start (with its pid, for a test that kills its worker), sleeps, notes its end."""
    Note.objects.create(key=key, value=f"{label} started", pid=os.getpid())
    time.sleep(seconds)
    Note.objects.create(key=key, value=label, pid=os.getpid())
    return label
