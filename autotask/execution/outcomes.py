"""How a run ended, and recording it.

A run's exception becomes an ``Outcome``: DONE, ERROR, CANCELLED, or WAITING
to run again (a retry its policy allows, or a run handed back unfinished). An
interrupt wins over whatever the task raised after it. Outcomes are written
however long the database is away, and each is logged (and signalled) once
written.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Callable, TypeVar

from django.db import InterfaceError, OperationalError

from .. import db, failures, queue, signals, stats, timeutil
from ..conf import conf
from ..exceptions import CancelRequested, Interrupt, Retry, TaskCancelled, TaskTimeout, TimeLimitExceeded, WorkerStopping
from ..handle import DelayedTask
from ..loader import full_name
from ..queue import Outcome, WorkerIdentity
from ..task import CANCELLED, ERROR, FINISHED, WAITING
from . import capture
from .runner import RunnerDied

logger = logging.getLogger(__name__)

T = TypeVar("T")


def outcome_of(exc: BaseException, task: dict[str, Any], in_runner: bool, stopped_by: Interrupt | None) -> Outcome:
    """How a run that raised ``exc`` ends. An interrupt wins over whatever the task raised after it."""
    if stopped_by is not None and not isinstance(exc, Interrupt):
        exc = stopped_by
    if isinstance(exc, WorkerStopping):
        # Handed back unfinished: it runs again, and this run doesn't count.
        return Outcome(WAITING, error_message="handed back: its worker stopped", attempts_delta=-1)
    if isinstance(exc, CancelRequested):
        return Outcome(CANCELLED, error_message="cancelled while running", exception_class=full_name(TaskCancelled))
    policy = task["runnable"].retry_policy
    if isinstance(exc, TimeLimitExceeded):
        message = f"timed out after {task['timeout']:g} s"
        timed_out = TaskTimeout(full_name(TaskTimeout), message)
        return failed(task, message, full_name(TaskTimeout), "", retryable=policy.applies_to(timed_out))
    if isinstance(exc, RunnerDied):
        return failed(task, str(exc), full_name(RunnerDied), "", retryable=policy.applies_to(exc))
    trace = "" if in_runner else failures.task_traceback(exc)  # in the runner's case, the worker's frames
    return failed(
        task, str(exc), full_name(type(exc)), trace,
        retryable=policy.applies_to(exc), requested_delay=getattr(exc, "delay", None) if isinstance(exc, Retry) else None,
    )


def failed(
    task: dict[str, Any], message: str, exception_class: str, trace: str, *, retryable: bool = True,
    requested_delay: float | None = None,
) -> Outcome:
    """A failed run: ERROR, or WAITING for a retry if its policy allows one and retries remain."""
    outcome = Outcome(ERROR, error_message=message, exception_class=exception_class, traceback=trace)
    if retryable and task["attempts"] <= task["retries"]:
        policy = task["runnable"].retry_policy
        delay = policy.delay_after(task["attempts"], conf.RETRY_DELAY, requested_delay)
        outcome.status = WAITING
        outcome.retry_at = timeutil.now() + dt.timedelta(seconds=delay)
    return outcome


def record(
    worker: WorkerIdentity, using: str, ran: list[tuple[dict[str, Any], Outcome]], counted: bool = True
) -> bool:
    """Write how ``ran``'s runs ended, in one transaction; log each and send ``task_finished``.

    ``counted``: into the worker's figures for the dashboard (``autotask.stats``),
    which its heartbeat writes; runs outside a worker (eager mode) are not.
    True if tasks waiting for these (after=) became due: there is new work at once."""
    if not ran:
        return False
    capture.wait_stored([task["id"] for task, _ in ran])  # a run's output is complete once its outcome is
    held = until_recorded(using, lambda: queue.finish(worker, ran))
    if counted:
        stats.record(ran, held)  # the dashboard's run figures (autotask.stats)
    for (task, outcome), was_held in zip(ran, held):
        log_outcome(task, outcome, was_held)
        if was_held and outcome.status in FINISHED:
            signals.finished(task.get("runnable"), DelayedTask(task["id"]), outcome.status, task, outcome)
    if held.cancelled:  # dependents of the tasks that failed (after=)
        from ..queue import dependencies

        dependencies.announce(held.cancelled)
    return held.released > 0


def until_recorded(using: str, record: Callable[[], T]) -> T:
    """Write a run's outcome, however long the database is away: a restart of the
    database server delays the record, it must never leave the task RUNNING."""
    pause = 0.5
    while True:
        try:
            return record()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("can't record a task's outcome (%s); retrying in %.1fs", exc, pause)
            db.reset_connection(using)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def log_outcome(task: dict[str, Any], outcome: Outcome, held: bool) -> None:
    if not held:
        logger.warning("task=%s was taken over by another worker; its outcome here is dropped", task["id"])
    elif outcome.status == ERROR:
        logger.error(
            "task failed task=%s function=%s error=%s\n%s",
            task["id"], task["function"], outcome.error_message, outcome.traceback,
        )
    elif outcome.status == WAITING and outcome.attempts_delta == 0:
        logger.warning(
            "task failed, will retry task=%s function=%s attempt=%s error=%s",
            task["id"], task["function"], task["attempts"], outcome.error_message,
        )
    else:
        logger.info("task finished task=%s function=%s status=%s", task["id"], task["function"], outcome.status)
