"""Recording how runs ended.

Updates are conditional on the row still being held by the worker that ran
it, so a run taken over after its worker was presumed lost can't overwrite
the newer state.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from django.db import connections

from .. import attempt_history, db
from ..task import CANCELLED, DONE, ERROR, RUNNING, WAITING
from . import dependencies, expiry
from .claim import WorkerIdentity
from .sql import adapters, column_namer, models as _models

@dataclass
class Outcome:
    """How a run ended, as the worker records it."""

    status: str  # DONE, ERROR, CANCELLED, or WAITING to run it again
    result: str | None = None
    error_message: str = ""
    exception_class: str = ""
    traceback: str = ""
    retry_at: dt.datetime | None = None
    attempts_delta: int = 0  # -1 when a run was handed back unfinished

    def __post_init__(self) -> None:
        # A task's own exception says what it likes: a NUL or a lone surrogate in it failed
        # the record on every try (``db.storable_text``), and the task stayed RUNNING.
        if self.error_message or self.exception_class or self.traceback:
            self.error_message = db.storable_text(self.error_message)
            self.exception_class = db.storable_text(self.exception_class)
            self.traceback = db.storable_text(self.traceback)


class Held(list):
    """``finish``'s answer: a bool per run; ``cancelled``: the (id, function) of dependents
    cancelled because a task they waited for failed (for ``dependencies.announce``);
    ``released``: how many dependents became due."""

    cancelled: list[tuple[uuid.UUID, str]] = []
    released = 0  # dependents that became due


def finish(worker: WorkerIdentity, runs: Sequence[tuple[dict[str, Any], Outcome]]) -> Held:
    """Record how each run ended, all in one transaction.

    A run's entry is False if its task was no longer held by ``worker`` (another
    worker took it over after presuming this one lost): its outcome is dropped.
    """
    using = db.alias()
    models = _models()
    connection = connections[using]
    db_uuid, db_time = adapters(connection)

    def params(task: dict[str, Any], outcome: Outcome) -> tuple[Any, ...]:
        if outcome.status == WAITING:  # to run again: at its retry time, or now if handed back
            run_at = db_time(outcome.retry_at or task["finished_at"])
            finished_at = expires_at = result = None
        else:  # finished: run_at stays as it was (NULL keeps it)
            run_at, result = None, outcome.result
            finished_at = db_time(task["finished_at"])
            expires = expiry.expires_at(outcome.status, task["finished_at"], task["ttl"])
            expires_at = None if expires is None else db_time(expires)
        progress = 100 if outcome.status == DONE else None  # NULL keeps what the task reported
        runner_pid = None if outcome.status == WAITING else task.get("runner_pid")  # set by the runner that ran it
        return (
            outcome.status, db_time(task["started_at"]), outcome.error_message, outcome.exception_class,
            outcome.traceback, run_at, finished_at, expires_at, result, progress, runner_pid, outcome.attempts_delta,
            db_uuid(task["id"]),
        )

    def alone() -> bool:
        """The one run's record as one statement, its own transaction, if nothing else is to
        be written with it: no dependents to settle (the condition), no schedule, no attempt
        to keep. False if it wrote nothing (not held, or awaited): the whole way below."""
        task, outcome = runs[0]
        with connection.cursor() as cursor:
            cursor.execute(_alone_statement(using), [*params(task, outcome), RUNNING, db_uuid(worker.id), False])
            return cursor.rowcount == 1

    def attempt() -> Held:
        cancelled.clear()
        released[0] = 0
        with db.write_transaction(using), connection.cursor() as cursor:
            # The tasks this worker still holds: RUNNING with its id (few rows, through the status index).
            cursor.execute(_held_statement(using, connection.vendor), [RUNNING, db_uuid(worker.id)])
            rows = cursor.fetchall()
            held = {value if isinstance(value, uuid.UUID) else uuid.UUID(value) for value, _ in rows}
            # Tasks others wait for (after=): rare, and only they make the record settle dependents.
            awaited = {value if isinstance(value, uuid.UUID) else uuid.UUID(value) for value, flag in rows if flag}
            records = [(task, outcome) for task, outcome in runs if task["id"] in held]
            if records:
                _write_records(cursor, using, connection.vendor, [params(task, outcome) for task, outcome in records])
            retried = [(task, outcome) for task, outcome in records if outcome.status == WAITING and not outcome.attempts_delta]
            if retried:  # rare: only a batch with a failed attempt to be run again reads and writes history
                _keep_attempts(using, worker, retried)
            for task, outcome in records:
                if task.get("schedule_id") and outcome.status != WAITING:
                    models.Schedule.objects.using(using).filter(pk=task["schedule_id"]).update(
                        last_run_at=task["started_at"], last_status=outcome.status, last_error=outcome.error_message
                    )
            if awaited:
                ended = [(task["id"], outcome.status) for task, outcome in records if task["id"] in awaited]
                done = [pk for pk, status in ended if status == DONE]
                failed = [pk for pk, status in ended if status in (ERROR, CANCELLED)]
                if done or failed:
                    settled = dependencies.settle(using, done, failed)
                    cancelled.extend(settled)
                    released[0] = settled.released
        return Held(task["id"] in held for task, _ in runs)

    if len(runs) == 1 and _may_be_alone(*runs[0]) and db.retry_locked(alone, "finish"):
        # One run (a Celery pool process, eager mode, a slow task): a round trip, not four.
        return Held([True])
    cancelled: list[tuple[uuid.UUID, str]] = []
    released = [0]
    held = db.retry_locked(attempt, "finish")
    held.cancelled, held.released = cancelled, released[0]
    return held



def _keep_attempts(using: str, worker: WorkerIdentity, retried: Sequence[tuple[dict[str, Any], Outcome]]) -> None:
    """Append each failed attempt that will run again to its task's ``history``
    (inside ``finish``'s transaction, whose lock on the rows is held)."""
    Task = _models().Task
    stored = dict(Task.objects.using(using).filter(pk__in=[task["id"] for task, _ in retried]).values_list("id", "history"))
    for task, outcome in retried:
        attempt = attempt_history.entry(
            task["attempts"], task["started_at"], task["finished_at"], worker.label, task.get("runner_pid"),
            outcome.error_message, outcome.exception_class, outcome.traceback,
        )
        Task.objects.using(using).filter(pk=task["id"]).update(history=attempt_history.appended(stored.get(task["id"]), attempt))


def _may_be_alone(task: dict[str, Any], outcome: Outcome) -> bool:
    """Whether a run's record may be its UPDATE alone (see ``finish``)."""
    kept_attempt = outcome.status == WAITING and not outcome.attempts_delta
    return not task.get("schedule_id") and not kept_attempt


@functools.lru_cache(maxsize=None)
def _held_statement(using: str, vendor: str) -> str:
    """The SELECT (locking them) of the tasks a worker holds, with their flag."""
    Task = _models().Task
    connection = connections[using]
    column = column_namer(connection, Task)
    sql = (
        f"SELECT {column('id')}, {column('has_dependents')} FROM {connection.ops.quote_name(Task._meta.db_table)} "
        f"WHERE {column('status')} = %s AND {column('worker_id')} = %s"
    )
    return sql if vendor == "sqlite" else sql + " FOR UPDATE"


# The values of a run's record, in the order of ``finish``'s ``params`` ("attempts": what is added to it).
RECORD_FIELDS = (
    "status", "started_at", "error_message", "exception_class", "traceback", "run_at", "finished_at", "expires_at",
    "result", "progress", "runner_pid", "attempts", "id",
)


def _assignments(column: Callable[[str], str], value: Callable[[str], str], current: Callable[[str], str]) -> str:
    """The SET of a run's record: ``value(name)`` says where the new value of field ``name``
    comes from, ``current(name)`` how the row's own value is named."""
    kept = {"run_at", "progress"}  # NULL keeps what the row has
    parts = [
        f"{column(name)} = COALESCE({value(name)}, {current(name)})" if name in kept else f"{column(name)} = {value(name)}"
        for name in RECORD_FIELDS[:-2]
    ]
    parts += [f"{column('attempts')} = {current('attempts')} + {value('attempts')}", f"{column('worker_id')} = NULL"]
    return ", ".join(parts)


def _write_records(cursor: Any, using: str, vendor: str, rows: list[tuple[Any, ...]]) -> None:
    """Write the records ``rows`` (values in ``RECORD_FIELDS`` order).

    On PostgreSQL several are one statement, their values one JSON text: Django binds
    values on the client, so each statement of an ``executemany`` was parsed and planned
    on its own (a batch of 64: 10-11 ms, now 4 ms), and arrays of values (``unnest()``)
    took psycopg longer to write out in Python than the JSON encoder. Elsewhere the
    one-row statement runs for each record (SQLite keeps it prepared)."""
    if vendor == "postgresql" and len(rows) > 1:
        records = json.dumps([dict(zip(RECORD_FIELDS, values)) for values in rows], default=str)
        cursor.execute(_json_update(using), [records])
    else:
        cursor.executemany(_update_statement(using), rows)


@functools.lru_cache(maxsize=None)
def _update_statement(using: str) -> str:
    """The UPDATE that records one run, on ``using``."""
    Task = _models().Task
    connection = connections[using]
    table = connection.ops.quote_name(Task._meta.db_table)
    column = column_namer(connection, Task)
    return f"UPDATE {table} SET {_assignments(column, lambda name: '%s', column)} WHERE {column('id')} = %s"


@functools.lru_cache(maxsize=None)
def _json_update(using: str) -> str:
    """PostgreSQL's UPDATE of many runs' records, from a JSON array of objects (keys:
    ``RECORD_FIELDS``; UUIDs and times as their ``str()``).

    The rows are found as the claim finds them, ids first ("= ANY(ARRAY(...))"), then each
    through the primary key: joined with the records, the planner read the whole table on
    a table of a few thousand rows, which made the statement twice as long."""
    Task = _models().Task
    connection = connections[using]
    meta = Task._meta
    column = column_namer(connection, Task)
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    # text, not varchar(n): a value too long for its column fails the UPDATE, it isn't cut
    types = [
        "text" if meta.get_field(name).get_internal_type() in ("CharField", "TextField")
        else meta.get_field(name).db_type(connection)
        for name in RECORD_FIELDS
    ]
    new = {name: f"v.{quote(name)}" for name in RECORD_FIELDS}
    return (
        f"WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(%s::json) AS r "
        f"({', '.join(f'{quote(name)} {kind}' for name, kind in zip(RECORD_FIELDS, types))})) "
        f"UPDATE {table} SET {_assignments(column, new.__getitem__, lambda name: f'{table}.{column(name)}')} FROM v "
        f"WHERE {table}.{column('id')} = ANY(ARRAY(SELECT {new['id']} FROM v)) AND {table}.{column('id')} = {new['id']}"
    )


@functools.lru_cache(maxsize=None)
def _alone_statement(using: str) -> str:
    """The UPDATE of a run's record written alone: only if the row is still held by this
    worker and awaited by no task. (A dependent stored meanwhile sets the flag under the
    row's lock: the UPDATE waits for it, sees it, writes nothing, and the whole way settles
    the dependent.)"""
    column = column_namer(connections[using], _models().Task)
    return (
        _update_statement(using)
        + f" AND {column('status')} = %s AND {column('worker_id')} = %s AND {column('has_dependents')} = %s"
    )


