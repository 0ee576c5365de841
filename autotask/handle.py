"""The handle of a stored task: ``DelayedTask`` reads its row, wherever it is used.

``autotask.tasks.DelayedTask`` (the import path autotask 0.5 had) is this class.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import time
import uuid
from typing import Any

from . import attempt_history, failures, queue, serialization
from .conf import conf
from .exceptions import TaskNotFound
from .task import BLOCKED, CANCELLED, DONE, ERROR, FINISHED, QUEUED, UNFINISHED, WAITING

_current_task: contextvars.ContextVar[DelayedTask | None] = contextvars.ContextVar("autotask_current_task", default=None)


def current_task() -> DelayedTask | None:
    """The handle of the task running in this thread; None outside a task."""
    return _current_task.get()


class DelayedTask:
    """A handle to a stored call: every attribute reads the current state of its row.

    ``DelayedTask(id)`` rebuilds a handle from a stored id in any process.
    """

    __slots__ = ("id",)  # bulk() makes thousands at once

    def __init__(self, id: uuid.UUID | str) -> None:
        self.id = id if isinstance(id, uuid.UUID) else uuid.UUID(str(id))

    def __repr__(self) -> str:
        return f"<DelayedTask {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DelayedTask) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _get(self, *fields: str) -> dict[str, Any] | None:
        return queue.read(self.id, fields)

    def _field(self, name: str) -> Any:
        row = self._get(name)
        return None if row is None else row[name]

    @property
    def status(self) -> str | None:
        """WAITING, RUNNING, DONE, ERROR or CANCELLED; None once the record is gone.
        (A task waiting for its dependencies, or handed to Celery and not started, is WAITING.)"""
        status = self._field("status")
        return WAITING if status in (BLOCKED, QUEUED) else status

    @property
    def ready(self) -> bool | None:
        """True once finished (done, error or cancelled); None once the record is gone."""
        status = self.status
        return None if status is None else status in FINISHED

    @property
    def result(self) -> Any:
        """The function's return value once done; None before."""
        row = self._get("status", "result")
        if row is None or row["result"] is None:
            return None
        return serialization.loads(row["result"])

    @property
    def error_message(self) -> str:
        return self._field("error_message") or ""

    @property
    def traceback(self) -> str:
        return self._field("traceback") or ""

    @property
    def progress(self) -> int | None:
        return self._field("progress")

    @property
    def attempts(self) -> int | None:
        return self._field("attempts")

    @property
    def started_at(self) -> dt.datetime | None:
        return self._field("started_at")

    @property
    def finished_at(self) -> dt.datetime | None:
        return self._field("finished_at")

    @property
    def worker(self) -> str:
        """``host:pid`` of the worker that ran it last."""
        return self._field("worker") or ""

    @property
    def runner_pid(self) -> int | None:
        """The pid of the runner process that ran its latest attempt (a task with a timeout), else None."""
        return self._field("runner_pid")

    @property
    def attempts_history(self) -> list[attempt_history.Attempt]:
        """Every attempt so far, oldest first: ``Attempt(number, started_at, finished_at,
        worker, runner_pid, status, error_message, exception_class, traceback)``; the
        latest one is RUNNING while it runs. [] before the first run and once the record is gone."""
        row = self._get(*attempt_history.FIELDS)
        return [] if row is None else attempt_history.attempts(row)

    @property
    def output(self) -> str:
        """What the task printed and logged (``AUTOTASK_OUTPUT_LOG_LEVEL`` and above) so far, every
        attempt's, in order: about a second behind while it runs. '' once the record is gone."""
        from . import output

        return output.text(self.id)

    @property
    def name(self) -> str:
        """The name the task was registered under (``@delayed_task(name=...)``), or ''."""
        return self._field("name") or ""

    @property
    def queue_name(self) -> str | None:
        return self._field("queue_name")

    @property
    def priority(self) -> int | None:
        """-100 to 100: among due tasks, higher starts first."""
        return self._field("priority")

    @property
    def dependencies(self) -> list[DelayedTask]:
        """The handles of the tasks it waits (or waited) for (``using(after=...)``), in the order given."""
        from .queue import dependencies

        return [DelayedTask(pk) for pk in dependencies.dependencies_of(self.id)]

    @property
    def dependents(self) -> list[DelayedTask]:
        """The handles of the tasks stored to wait for it."""
        from .queue import dependencies

        return [DelayedTask(pk) for pk in dependencies.dependents_of(self.id)]

    def wait(self, timeout: float | None = None) -> Any:
        """Block until finished and return the result.

        A task that ended ERROR raises an ``autotask.TaskError`` that is also an
        instance of the task's own exception class where that class can be
        rebuilt from its message (``except ValueError:`` works); a timed-out run
        raises ``autotask.TaskTimeout``, a lost worker ``autotask.WorkerLost``, a
        cancelled task ``autotask.TaskCancelled``. After ``timeout`` seconds it
        raises ``TimeoutError`` (saying so when no worker is running); once the
        record is gone, ``autotask.TaskNotFound`` (a ``LookupError``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            row = self._get("status", "result", "error_message", "exception_class", "traceback")
            if row is None:
                raise TaskNotFound(f"task {self.id} does not exist: it never did, or its record was removed after its ttl")
            if row["status"] in (ERROR, CANCELLED):
                raise failures.exception_for(row["status"], row["exception_class"], row["error_message"], row["traceback"])
            if row["status"] == DONE:
                return None if row["result"] is None else serialization.loads(row["result"])
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(self._not_finished(timeout, WAITING if row["status"] == BLOCKED else row["status"]))
            sleep = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(sleep)
            pause = min(pause * 1.5, 0.1)

    def _not_finished(self, timeout: float | None, status: str) -> str:
        """Why ``wait()`` timed out, where it can tell: no worker alive, or none that takes the task's queue."""
        message = f"task {self.id} did not finish within {timeout} s (status {status})"
        if status not in UNFINISHED:
            return message
        workers = queue.alive_workers()
        if not workers:
            return (
                f"{message}: no worker is running (none sent a heartbeat in the last {conf.WORKER_LOST_AFTER:g} s). "
                "Tasks are run by the companion worker of a running Django process with AUTOTASK_IS_ACTIVE = True "
                "(manage.py runserver, a WSGI or ASGI server) or by a worker started with 'python manage.py run_autotask'"
            )
        queue_name = self.queue_name
        if status == WAITING and not any(not w["queues"] or queue_name in w["queues"].split(",") for w in workers):
            taken = sorted({name for w in workers for name in w["queues"].split(",")})
            return (
                f"{message}: no running worker takes its queue {queue_name!r} (they take {', '.join(taken)}); "
                f"start one with 'python manage.py run_autotask --queue {queue_name}', or add it to AUTOTASK_QUEUES"
            )
        return message

    def cancel(self) -> bool:
        """Stop the task: a waiting one never runs, a running one is stopped; it ends CANCELLED.

        Returns False (and changes nothing) if it had already finished.
        """
        return queue.cancel(self.id)

    def set_progress(self, percent: int | float) -> None:
        """Record progress (0-100); any handle to the task reads it at once."""
        check_progress(percent)
        queue.set_progress(self.id, int(percent))


def check_progress(percent: Any) -> None:
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, got {percent!r}")
