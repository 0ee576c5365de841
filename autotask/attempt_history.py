"""Every attempt of a task: the earlier ones in the row's ``history``, the current one in its own columns.

A task row's columns (``started_at``, ``finished_at``, ``worker``,
``runner_pid``, ``status``, ``error_message``, ``exception_class``,
``traceback``) describe its latest attempt. When an attempt ends and the task
is to run again (a failure with retries left, or a worker lost while running
it), the worker that records this appends that attempt to ``history``, in the
same transaction. A task that ran once has no history (NULL).

The stored format, for adapters that build on it (Django's ``TaskResult.errors``,
the admin): ``history`` is a JSON list, oldest first, of one object per earlier
attempt::

    {
      "attempt": 1,                        # its number: 1 for the first run
      "started_at": "2026-12-01T21:04:05.123456+00:00",
      "finished_at": "2026-12-01T21:04:05.223456+00:00",
      "worker": "host:4242",               # the worker that ran it
      "runner_pid": 4243,                  # the runner process that ran it (a task with a timeout), else null
      "status": "ERROR",                   # how the attempt ended (every earlier attempt failed)
      "error_message": "connection refused",
      "exception_class": "builtins.ConnectionRefusedError",   # a dotted path
      "traceback": "Traceback (most recent call last): ..."  # from the task's own frames; '' if none
    }

Times are ISO 8601 as the database columns hold them (aware, UTC, with
``USE_TZ``; naive local time without). A worker lost while running the
attempt gives ``exception_class`` ``autotask.exceptions.WorkerLost`` and the
time it was found lost as ``finished_at``. A run handed back unfinished (its
worker stopped) and the runs of a lost worker's batch don't count as attempts
and leave no entry. ``DelayedTask.attempts_history`` reads it as ``Attempt``\\ s.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from .task import ERROR, WAITING

#: The row's columns ``attempts`` reads.
FIELDS = (
    "status", "history", "attempts", "started_at", "finished_at", "worker", "runner_pid", "error_message",
    "exception_class", "traceback",
)


@dataclass(frozen=True)
class Attempt:
    """One run of a task: when, where, and how it ended (``status`` RUNNING while it runs)."""

    number: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    worker: str  # host:pid
    runner_pid: int | None
    status: str
    error_message: str
    exception_class: str
    traceback: str


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def entry(
    number: int, started_at: dt.datetime | None, finished_at: dt.datetime | None, worker: str,
    runner_pid: int | None, error_message: str, exception_class: str, traceback: str, status: str = ERROR,
) -> dict[str, Any]:
    """The stored form of one attempt that ended (see the module's docstring)."""
    return {
        "attempt": number, "started_at": _time(started_at), "finished_at": _time(finished_at), "worker": worker,
        "runner_pid": runner_pid, "status": status, "error_message": error_message,
        "exception_class": exception_class, "traceback": traceback,
    }


def appended(history: str | None, attempt: dict[str, Any]) -> str:
    """The ``history`` column with ``attempt`` added at its end."""
    return json.dumps([*(json.loads(history) if history else ()), attempt], separators=(",", ":"))


def _attempt(item: dict[str, Any]) -> Attempt:
    parse = lambda value: None if value is None else dt.datetime.fromisoformat(value)  # noqa: E731
    return Attempt(
        item["attempt"], parse(item["started_at"]), parse(item["finished_at"]), item["worker"], item["runner_pid"],
        item["status"], item["error_message"], item["exception_class"], item["traceback"],
    )


def attempts(row: dict[str, Any]) -> list[Attempt]:
    """Every attempt of the task ``row`` (its ``FIELDS``), oldest first.

    The earlier ones from ``history``; the latest from the row's columns, once it
    has started and unless it is already in the history (a task waiting for its
    retry, or cancelled while it waited, has no attempt beyond its history).
    """
    earlier = [_attempt(item) for item in json.loads(row["history"])] if row["history"] else []
    started = row["started_at"]
    if started is None or row["status"] == WAITING or (earlier and earlier[-1].started_at == started):
        return earlier
    current = Attempt(
        row["attempts"], started, row["finished_at"], row["worker"], row["runner_pid"], row["status"],
        row["error_message"], row["exception_class"], row["traceback"],
    )
    return [*earlier, current]
