"""Signals of a task's life, for every way a task is stored.

- ``task_enqueued(sender, task)``: in the process that stored the task, right
  after its row is written (inside the caller's transaction, if there is one).
- ``task_started(sender, task)``: in the worker, before the run.
- ``task_finished(sender, task, status)``: where the task ended: in the worker
  after its outcome is recorded (DONE, ERROR, CANCELLED; a run to be retried
  sends none), in the process that cancelled a task that had not started, and
  in the worker that found a task's worker lost.

``sender`` is what was decorated (the ``DelayedFunction``, a schedule's
function, a django.tasks ``Task``...) where it is known, else the task's dotted
path; ``task`` is its ``DelayedTask`` handle. A receiver that raises is logged
and changes nothing: not the task's outcome, not the worker's loop.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

task_enqueued = Signal()
task_started = Signal()
task_finished = Signal()


def send_safely(signal: Signal, sender: Any, task: Any, **extra: Any) -> None:
    """Send ``signal``; log what a receiver raises instead of raising it."""
    for receiver, response in signal.send_robust(sender, task=task, **extra):
        if isinstance(response, BaseException):
            logger.error(
                "signal receiver failed receiver=%r task=%s error=%r",
                receiver, getattr(task, "id", task), response, exc_info=response,
            )


def sender_of(path: str) -> Any:
    """What the task stored under ``path`` names as its signals' sender (its path, if it can't be imported here)."""
    from .definitions import runnable

    try:
        return runnable(path).sender
    except ImportError:
        return path


def announce_finished(task_id: Any, path: str, status: str) -> None:
    """``task_finished`` for a task that ended outside a run (cancelled before it ran, its worker lost)."""
    if task_finished.receivers:
        from .handle import DelayedTask

        send_safely(task_finished, sender_of(path), DelayedTask(task_id), status=status)
