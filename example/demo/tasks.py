"""The demo's tasks: what a real project might hand to autotask.

Calling a ``@delayed_task`` function stores the call and returns a handle at
once; the companion worker runs it after ``delay`` seconds. ``@periodic_task``
and ``@cron_task`` functions are run by the worker on their own.
"""

import logging
import random
import time

from autotask import current_task
from autotask.tasks import cron_task, delayed_task, periodic_task

logger = logging.getLogger(__name__)


@delayed_task()
def send_welcome_email(address):
    """Pretend to talk to a mail server for half a second."""
    time.sleep(0.5)
    return f"welcome email sent to {address}"


@delayed_task(delay=2)
def build_report(rows):
    """A longer job that reports its progress (the bar on the page) as it goes, and
    prints a line per step: its output (handle.output, the admin's task page, the
    last line on the demo's page) grows while it runs."""
    task = current_task()  # None when called with build_report.run_inline(...)
    steps = 10
    total = 0
    logger.info("building a report of %s rows", rows)
    for step in range(1, steps + 1):
        time.sleep(0.25)
        total += sum(range(rows // steps))
        print(f"page {step} of {steps} rendered")
        if task is not None:
            task.set_progress(step * 100 // steps)
    return {"rows": rows, "checksum": total % 100_000, "pages": max(1, rows // 50)}


@delayed_task(delay=1, retries=2)
def flaky_call():
    """An unreliable remote API: fails half the time; up to two retries (AUTOTASK_RETRY_DELAY apart)."""
    time.sleep(0.2)
    if random.random() < 0.5:
        raise ConnectionError("the partner API timed out")
    return {"status": 200, "items": random.randint(1, 40)}


@delayed_task(delay=3)
def always_fails():
    """A bug: ends in ERROR, with its message and traceback stored on the task."""
    raise ValueError("invoice 42 has no customer")


@periodic_task(seconds=15, start_now=True)
def heartbeat():
    """Every 15 seconds, starting as soon as the worker runs."""
    return "alive"


@cron_task(crontab="0 3 * * *")
def nightly_cleanup():
    """Every night at 03:00 (crontab order: minutes hours dow months dom). A no-op here."""
    removed = 0
    return removed
