"""Signals of a task's life, for every way a task is stored.

- ``task_enqueued(sender, task)``: in the process that stored the task, right
  after its row is written (inside the caller's transaction, if there is one).
- ``task_started(sender, task)``: in the worker, before the run.
- ``task_finished(sender, task, status)``: where the task ended: in the worker
  after its outcome is recorded (DONE, ERROR, CANCELLED; a run to be retried
  sends none), in the process that cancelled a task that had not started, and
  in the worker that found a task's worker lost.

In the worker, ``task_started`` and ``task_finished`` also carry ``row``: the
task's columns as the worker claimed them (``queue.CLAIM_FIELDS``, with the
run's ``started_at``, and ``finished_at`` once finished), and ``task_finished``
the recorded ``outcome`` (``queue.Outcome``). A receiver that needs more than
the handle reads them, not the database: a query per signal would cost more
than the run of a quick task. Elsewhere (a cancel, a lost worker) they are absent.

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


def started(runnable: Any, task: Any, row: dict[str, Any]) -> None:
    """A run starts in this worker: ``task_started``, and the runnable's own ``on_started(task, row)``
    if it has one (an adapter's way to act on every run of its tasks without costing other tasks)."""
    if task_started.receivers:
        send_safely(task_started, runnable.sender, task, row=row)
    hook = getattr(runnable, "on_started", None)
    if hook is not None:
        _call_safely(hook, task, row)


def finished(runnable: Any, task: Any, status: str, row: dict[str, Any] | None = None, outcome: Any = None) -> None:
    """A task ended (its outcome is recorded): ``task_finished``, and the runnable's own
    ``on_finished(task, status, row, outcome)`` if it has one. ``runnable`` is None where the
    task's function can't be imported here; ``row`` and ``outcome`` are None outside a run."""
    if task_finished.receivers:
        sender = runnable.sender if runnable is not None else getattr(row, "get", lambda _: None)("function")
        send_safely(task_finished, sender, task, status=status, row=row, outcome=outcome)
    hook = getattr(runnable, "on_finished", None)
    if hook is not None:
        _call_safely(hook, task, status, row, outcome)


def _call_safely(hook: Any, task: Any, *args: Any) -> None:
    try:
        hook(task, *args)
    except Exception as exc:
        logger.error("task hook failed hook=%r task=%s error=%r", hook, getattr(task, "id", task), exc, exc_info=exc)


def announce_finished(task_id: Any, path: str, status: str) -> None:
    """A task ended outside a run (cancelled before it ran, its worker lost): as ``finished``."""
    from .definitions import runnable
    from .handle import DelayedTask

    try:
        found = runnable(path)
    except ImportError:
        found = None
    if found is None and not task_finished.receivers:
        return
    if found is None:
        send_safely(task_finished, path, DelayedTask(task_id), status=status, row=None, outcome=None)
        return
    finished(found, DelayedTask(task_id), status)
