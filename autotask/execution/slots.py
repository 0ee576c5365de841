"""Running one claimed task, in the thread of its slot or in the slot's runner process.

A worker has one slot, its main thread: each claimed task runs there, one at a
time. A task with a ``timeout`` (with ``AUTOTASK_TIMEOUT_MODE = "process"``)
runs in the slot's runner process instead (``runner.py``), which an interrupt
kills; any other task runs in the slot's thread, and an interrupt is raised
inside the task (``interrupts.py``).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from django.db import connections

from .. import db, definitions, serialization, signals, timeutil
from ..conf import conf
from ..exceptions import Interrupt
from ..loader import full_name
from ..queue import Outcome
from ..task import DONE, ERROR
from . import outcomes
from .runner import Runner

if TYPE_CHECKING:
    from .loop import Worker

logger = logging.getLogger(__name__)


class Slot:
    """Where a worker runs its tasks, one at a time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.runner = Runner()
        self.current: dict[str, Any] | None = None  # the task running now
        self.interrupt: BaseException | None = None  # to raise in the running task
        self.stopped_by: Interrupt | None = None  # why the running task was interrupted, if it was
        self.in_task = False
        self.last_duration = 1.0
        self._runnables: dict[str, Any] = {}  # dotted path -> what runs it, once imported

    def execute(self, task: dict[str, Any]) -> Outcome:
        """Run one claimed task in this thread; never raises."""
        from ..handle import DelayedTask, _current_task

        started = time.monotonic()
        task["started_at"] = timeutil.now()
        outcome: Outcome
        try:
            runnable = self._runnables.get(task["function"])
            if runnable is None:  # imported once per worker; only found ones are kept
                runnable = self._runnables[task["function"]] = definitions.runnable(task["function"])
            task["runnable"] = runnable
            args, kwargs = serialization.loads_call(task["arguments"])
        except (ImportError, ValueError) as exc:
            outcome = Outcome(ERROR, error_message=str(exc), exception_class=full_name(type(exc)))
        else:
            logger.debug("task started task=%s function=%s attempt=%s", task["id"], task["function"], task["attempts"])
            handle = DelayedTask(task["id"])
            if signals.task_started.receivers:
                signals.send_safely(signals.task_started, runnable.sender, handle)
            token = _current_task.set(handle)
            self.current = task
            try:
                outcome = self._call(runnable, args, kwargs, task)
            finally:
                self.current = None
                _current_task.reset(token)
        task["finished_at"] = timeutil.now()
        self.last_duration = time.monotonic() - started
        self._leave_connection_clean()
        return outcome

    def _call(self, runnable: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
        timeout = task["timeout"]
        in_runner = bool(timeout) and conf.TIMEOUT_MODE == "process"
        self.interrupt = None
        self.stopped_by = None
        self.in_task = True
        try:
            try:
                if in_runner:
                    self.runner.start()  # outside the timeout: Django's set-up is not the task's time
                if timeout:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                if in_runner:
                    answer = self.runner.run(task)
                else:  # the same answer as the runner's; a failure raises here
                    answer = {"result": serialization.dumps(runnable.run(args, kwargs), "the result")}
            finally:
                self.in_task = False
                if timeout:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            if self.stopped_by is not None:
                raise self.stopped_by  # the task caught its interrupt and went on: it ends as the interrupt says
            if "error" in answer:  # from the runner, which applied the retry policy
                return outcomes.failed(
                    task, answer["error"], answer["class"], answer["traceback"],
                    retryable=answer["retryable"], requested_delay=answer["retry_delay"],
                )
            return Outcome(DONE, result=answer["result"])
        except BaseException as exc:  # a task's failure, even SystemExit, is the task's
            outcome = outcomes.outcome_of(exc, task, in_runner, self.stopped_by)
            if isinstance(exc, KeyboardInterrupt) and self.stopped_by is None:
                self.worker.stop()
            return outcome

    def _leave_connection_clean(self) -> None:
        """A task that left a transaction open must not harm the next. (A broken
        connection needs no ping here: recording the outcome reconnects.)"""
        connection = connections[self.worker.using]
        if connection.in_atomic_block or connection.needs_rollback:
            logger.warning("a task left the database connection unusable; reconnecting")
            db.reset_connection(self.worker.using)
