"""Fixture schedules with options, and one to hold back; imported by the workers of the tests that run them."""

import os

import autotask
from autotask.tasks import cron_task, periodic_task

from .models import Note


@periodic_task(seconds=1, start_now=True)
def every_second_note():
    Note.objects.create(key="every_second_note", pid=os.getpid())


@periodic_task(
    seconds=3600, start_now=True, args=(2,), kwargs={"b": 3}, timeout=30, retries=2, ttl=120, queue_name="reports",
    priority=7, retry_delay=0.1,
)
def add_with_options(a, b):
    """Fails on its first attempt, so its run shows the retries and the policy at work."""
    attempt = autotask.current_task().attempts
    Note.objects.create(key="add_with_options", value=f"{a}+{b} attempt {attempt}", pid=os.getpid())
    if attempt == 1:
        raise RuntimeError("first attempt fails")
    return a + b


@cron_task(crontab="0 3 * * *", args=("nightly",), timeout=600, retries=1, ttl=3600, queue_name="reports", priority=-5)
def nightly_report(kind):
    Note.objects.create(key="nightly_report", value=kind, pid=os.getpid())
