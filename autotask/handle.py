"""The handle of a stored task: ``DelayedTask`` reads its row, wherever it is used.

``autotask.tasks.DelayedTask`` (the import path autotask 0.5 had) is this class.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import time
import uuid
from typing import Any

from . import queue, serialization
from .exceptions import TaskError
from .task import CANCELLED, DONE, ERROR, FINISHED

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
        """WAITING, RUNNING, DONE, ERROR or CANCELLED; None once the record is gone."""
        return self._field("status")

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

    def wait(self, timeout: float | None = None) -> Any:
        """Block until finished and return the result.

        Raises ``TaskError`` if it ended in ERROR or CANCELLED, ``TimeoutError``
        after ``timeout`` seconds, ``LookupError`` if its record is gone.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            row = self._get("status", "result", "error_message", "exception_class", "traceback")
            if row is None:
                raise LookupError(f"task {self.id} does not exist (its record may have expired)")
            if row["status"] in (ERROR, CANCELLED):
                raise TaskError(row["exception_class"], row["error_message"], row["traceback"])
            if row["status"] == DONE:
                return None if row["result"] is None else serialization.loads(row["result"])
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {self.id} did not finish within {timeout} s (status {row['status']})")
            sleep = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(sleep)
            pause = min(pause * 1.5, 0.1)

    def cancel(self) -> bool:
        """Stop the task: a waiting one never runs, a running one is stopped; it ends CANCELLED.

        Returns False (and changes nothing) if it had already finished.
        """
        return queue.cancel(self.id)

    def set_progress(self, percent: int | float) -> None:
        """Record progress (0-100); any handle to the task reads it at once."""
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise ValueError(f"progress must be a number from 0 to 100, got {percent!r}")
        queue.set_progress(self.id, int(percent))
