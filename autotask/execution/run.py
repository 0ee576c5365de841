"""Running one claimed task in this thread: what every run goes through, wherever it runs.

- ``running(task_id)``: the context of every run, in the thread that runs it
  (a worker's slot) or in a runner process: ``current_task()`` is its handle
  while it runs, and its output is captured (``capture.py``). Whatever belongs
  to one run and must not leak into another is set up and torn down here, and only here.
- ``execute(task, call)``: one run from start to end: the function imported
  (once per process), the arguments read, ``task_started`` sent, the call made
  inside ``running()``, the times noted. ``call`` decides where the task runs
  and how an interruption ends it (``slots.Slot``).
- ``run_task(task, worker)``: a claimed task run here and now and recorded:
  the same run, outside any worker loop (no timeout, no cancel while it runs);
  ``AUTOTASK_EAGER``'s runs (``autotask.eager``).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from .. import db, definitions, serialization, signals, timeutil
from ..handle import DelayedTask, _current_task
from ..loader import full_name
from ..queue import Outcome, WorkerIdentity
from ..task import DONE, ERROR
from . import capture, outcomes

logger = logging.getLogger(__name__)

Call = Callable[[Any, list, dict, dict], Outcome]  # (runnable, args, kwargs, task) -> how the run ended


class running:
    """The context of one run, in the thread (or runner process) that runs it:
    ``with running(task_id) as handle: ...``. (A class, not a generator: it is
    entered for every task, and this is cheaper.)"""

    __slots__ = ("handle", "attempt", "_token", "_capture")

    def __init__(self, task_id: Any, attempt: int = 1) -> None:
        self.handle = DelayedTask(task_id)
        self.attempt = attempt

    def __enter__(self) -> Any:
        self._token = _current_task.set(self.handle)
        self._capture = capture.begin(self.handle.id, self.attempt)
        return self.handle

    def __exit__(self, *exc_info: Any) -> None:
        try:
            capture.end(self._capture)
        finally:
            _current_task.reset(self._token)


def execute(task: dict[str, Any], call: Call, runnables: dict[str, Any]) -> Outcome:
    """Run one claimed task with ``call``; never raises. ``runnables`` caches what was imported."""
    task["started_at"] = timeutil.now()
    try:
        runnable = runnables.get(task["function"])
        if runnable is None:  # imported once per process; only found ones are kept
            runnable = runnables[task["function"]] = definitions.runnable(task["function"])
        task["runnable"] = runnable
        task["call"] = args, kwargs = serialization.loads_call(task["arguments"])  # for signal receivers too
    except (ImportError, ValueError) as exc:
        outcome = Outcome(ERROR, error_message=str(exc), exception_class=full_name(type(exc)))
    else:
        logger.debug("task started task=%s function=%s attempt=%s", task["id"], task["function"], task["attempts"])
        with running(task["id"], task["attempts"]) as handle:
            signals.started(runnable, handle, task)
            outcome = call(runnable, args, kwargs, task)
    task["finished_at"] = timeutil.now()
    return outcome


def call_here(runnable: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
    """The task's call in this thread, with nothing that could interrupt it."""
    try:
        result = serialization.dumps(runnable.run(args, kwargs), "the result")
    except BaseException as exc:  # a task's failure, even SystemExit, is the task's
        return outcomes.outcome_of(exc, task, False, None)
    return Outcome(DONE, result=result)


def run_task(task: dict[str, Any], worker: WorkerIdentity, call: Call = call_here) -> Outcome:
    """Run a task that ``queue.claim`` (or ``queue.claim_task``) returned for ``worker``,
    here and now in this thread, and record how it ended (as a worker would: retries,
    signals, the run record). For running tasks outside a worker loop (``autotask.eager``):
    no timeout or cancel stops it while it runs, and it is not counted in the worker
    figures of the dashboard (no heartbeat would write them). ``call``: ``call_here``,
    or one that wraps it."""
    outcome = execute(task, call, {})
    outcomes.record(worker, db.alias(), [(task, outcome)], counted=False)
    return outcome
