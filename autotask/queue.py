"""The task table as a queue: enqueue, claim, finish, cancel, recover, clean.

Every state change of a task row happens here, each in one short write
transaction. Updates that finish a run are conditional on the row still being
held by the worker that ran it, so a run taken over after its worker was
presumed lost can't overwrite the newer state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import logging
import os
import socket
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F

from . import db, supervisor, timeutil
from .conf import conf
from .task import CANCELLED, ERROR, RUNNING, WAITING

if TYPE_CHECKING:
    from .tasks import DelayedFunction

logger = logging.getLogger(__name__)

HOST = socket.gethostname()
CLAIM_FIELDS = ("id", "function", "arguments", "run_at", "attempts", "retries", "ttl", "timeout", "schedule_id", "due_at")


def _models():
    from . import models

    return models


# -- the caller's side ---------------------------------------------------------


# Columns a new task row is stored with: every NOT NULL column, and the timeout.
# The rest are NULL until a worker runs the task. Of these, only the id and the
# arguments differ between the rows of one call of ``bulk()``.
ROW_FIELDS = ("id", "arguments")
CALL_FIELDS = ("function", "run_at", "retries", "ttl", "timeout", "created_at")
INSERT_CONSTANTS = {
    "status": WAITING, "attempts": 0, "losses": 0, "error_message": "", "exception_class": "",
    "traceback": "", "worker": "", "cancel_requested": False,
}
BULK_CHUNK = 5000  # rows per statement of a bulk insert (where the database takes that many parameters)


def _adapters(connection: Any) -> tuple[Callable[[uuid.UUID], Any], Callable[[dt.datetime], Any]]:
    """How ``connection`` takes a UUID and a datetime, for values already of their
    fields' types: what ``get_db_prep_value`` of UUIDField and DateTimeField ends
    with, without their checks (those were a fifth to a third of the time of an
    enqueue, a claim or a record)."""
    native = connection.features.has_native_uuid_field
    db_uuid = (lambda value: value) if native else (lambda value: value.hex)
    if connection.vendor == "sqlite" and settings.USE_TZ:
        # Django's adapter, less its per-call settings lookups: SQLite stores naive
        # text in the connection's zone (UTC, unless DATABASES sets TIME_ZONE).
        zone = connection.timezone

        def db_time(value: dt.datetime) -> str:
            if value.tzinfo is not zone and value.tzinfo is not None:
                value = value.astimezone(zone)
            return str(value.replace(tzinfo=None))

        return db_uuid, db_time
    return db_uuid, connection.ops.adapt_datetimefield_value


@functools.lru_cache(maxsize=None)
def _insert_statement(using: str, vendor: str, rows: int = 1) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of ``rows`` new task rows on ``using``, and its constant values, adapted.

    Its parameters: the call's values (CALL_FIELDS), the constants, then each row's
    values (ROW_FIELDS), row after row; on PostgreSQL one array per row field.
    Taking the shared values once, not once per row, is what makes ``bulk()``
    several times faster than an ``executemany()`` of single-row INSERTs.
    """
    meta = _models().Task._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    shared = [meta.get_field(name) for name in (*CALL_FIELDS, *INSERT_CONSTANTS)]
    per_row = [meta.get_field(name) for name in ROW_FIELDS]
    columns = ", ".join(quote(field.column) for field in (*shared, *per_row))
    insert = f"INSERT INTO {quote(meta.db_table)} ({columns}) "
    constants = tuple(meta.get_field(name).get_db_prep_save(value, connection) for name, value in INSERT_CONSTANTS.items())
    if rows == 1:
        sql = insert + f"VALUES ({', '.join(['%s'] * (len(shared) + len(per_row)))})"
    elif vendor == "postgresql":  # typed placeholders: a SELECT list does not take its types from the table
        typed = ", ".join(f"%s::{field.db_type(connection)}" for field in shared)
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in per_row)
        names = ", ".join(f"r.{quote(field.column)}" for field in per_row)
        sql = insert + f"SELECT {typed}, {names} FROM unnest({arrays}) AS r({names.replace('r.', '')})"
    else:  # SQLite: the rows as a VALUES table, whose columns are named column1, column2...
        values = ", ".join(["(" + ", ".join(["%s"] * len(per_row)) + ")"] * rows)
        names = ", ".join(f"column{i + 1}" for i in range(len(per_row)))
        sql = insert + f"SELECT {', '.join(['%s'] * len(shared))}, {names} FROM (VALUES {values})"
    if vendor == "postgresql":
        # The same statement tells the listening workers (at commit): no second round trip.
        sql = f"WITH inserted AS ({sql}) SELECT pg_notify('{db.NOTIFY_CHANNEL}', '')"
    return sql, constants


def _insert(using: str, func: DelayedFunction, arguments: Sequence[str]) -> list[uuid.UUID]:
    """Store new task rows: one INSERT of the needed columns, adapted by hand.

    Django's own insert prepares all 24 columns of a row, field by field, and
    that was most of an enqueue's time: here only the values that differ
    between rows are adapted, the constants once per process.
    """
    connection = connections[using]
    vendor = connection.vendor
    db_uuid, db_time = _adapters(connection)
    now = timeutil.now()
    call = (func.path, db_time(now + dt.timedelta(seconds=func.delay)), func.retries, func.ttl, func.timeout, db_time(now))
    ids = _models().new_ids(len(arguments))
    db_ids = [db_uuid(task_id) for task_id in ids]
    with connection.cursor() as cursor:
        if len(ids) == 1:
            sql, constants = _insert_statement(using, vendor)
            cursor.execute(sql, (*call, *constants, db_ids[0], arguments[0]))
        elif vendor not in ("sqlite", "postgresql"):
            # MySQL/MariaDB: the driver makes an executemany() of an INSERT one multi-row INSERT.
            sql, constants = _insert_statement(using, vendor)
            cursor.executemany(sql, [(*call, *constants, *row) for row in zip(db_ids, arguments)])
        else:
            if vendor == "postgresql":
                chunk = BULK_CHUNK
            else:  # SQLite: as many rows a statement as its limit of parameters allows
                shared = len(call) + len(INSERT_CONSTANTS)
                chunk = (connection.features.max_query_params - shared) // len(ROW_FIELDS)
            for start in range(0, len(ids), chunk):
                part_ids, part_arguments = db_ids[start : start + chunk], arguments[start : start + chunk]
                sql, constants = _insert_statement(using, vendor, len(part_ids))
                if vendor == "postgresql":  # one array per row field
                    rows: Iterable[Any] = (part_ids, part_arguments)
                else:  # the rows' values, row after row
                    rows = itertools.chain.from_iterable(zip(part_ids, part_arguments))
                cursor.execute(sql, [*call, *constants, *rows])
    return ids


def _after_enqueue(using: str) -> None:
    # PostgreSQL's listening workers were told by the INSERT itself.
    transaction.on_commit(supervisor.wake_companion, using=using)  # this process's own companion


def enqueue(func: DelayedFunction, arguments: str) -> uuid.UUID:
    """Store one call on the caller's connection (so it commits or rolls back with
    the caller's transaction) and wake workers after the commit."""
    using = db.alias()
    [task_id] = _insert(using, func, [arguments])
    _after_enqueue(using)
    return task_id


def enqueue_many(func: DelayedFunction, arguments: Sequence[str]) -> list[uuid.UUID]:
    """Store many calls in one transaction."""
    using = db.alias()
    with transaction.atomic(using=using):
        ids = _insert(using, func, arguments)
        _after_enqueue(using)
    return ids


def read(task_id: uuid.UUID, fields: Iterable[str]) -> dict[str, Any] | None:
    return _models().Task.objects.using(db.alias()).filter(pk=task_id).values(*fields).first()


def set_progress(task_id: uuid.UUID, percent: int) -> None:
    _models().Task.objects.using(db.alias()).filter(pk=task_id).update(progress=percent)


def cancel(task_id: uuid.UUID) -> bool:
    """Cancel a waiting task at once; ask the worker of a running one to stop it.

    Returns False if the task had already finished (or is gone).
    """
    tasks = _models().Task.objects.using(db.alias()).filter(pk=task_id)
    row = tasks.values("status", "ttl").first()
    if row is None:
        return False
    now = timeutil.now()
    cancelled = tasks.filter(status=WAITING).update(
        status=CANCELLED,
        finished_at=now,
        expires_at=now + dt.timedelta(seconds=row["ttl"]),
        error_message="cancelled before it ran",
        exception_class="autotask.exceptions.TaskCancelled",
    )
    if cancelled or tasks.filter(status=RUNNING).update(cancel_requested=True):
        return True
    logger.info("cancel task=%s: already finished, status=%s", task_id, row["status"])
    return False


# -- the worker's side ---------------------------------------------------------


@dataclass
class WorkerIdentity:
    id: uuid.UUID
    label: str  # host:pid

    @classmethod
    def new(cls) -> WorkerIdentity:
        from .models import new_id

        return cls(id=new_id(), label=f"{HOST}:{os.getpid()}")


def claim(worker: WorkerIdentity, limit: int) -> list[dict[str, Any]]:
    """Mark up to ``limit`` due tasks RUNNING for ``worker`` and return them, oldest due first.

    PostgreSQL and MySQL skip rows other workers have locked; SQLite's
    immediate transaction lets one writer at a time in.
    """
    using = db.alias()
    connection = connections[using]
    if connection.vendor == "postgresql" or (connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)):
        attempt = functools.partial(_claim_returning, using, worker, limit)
    else:
        attempt = functools.partial(_claim_select_update, using, worker, limit)
    return db.retry_locked(attempt, "claim")


def _claim_returning(using: str, worker: WorkerIdentity, limit: int) -> list[dict[str, Any]]:
    """One ``UPDATE ... RETURNING`` statement: a single round trip on PostgreSQL."""
    connection = connections[using]
    sql, fields = _claim_statement(using, connection.vendor)
    db_uuid, db_time = _adapters(connection)
    now = timeutil.now()
    params = [RUNNING, db_uuid(worker.id), worker.label, db_time(now), False, WAITING, db_time(now), limit]
    with db.write_transaction(using) if connection.vendor == "sqlite" else contextlib.nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            raw_rows = cursor.fetchall()
    rows = []
    for raw in raw_rows:
        row = {}
        for (name, column, converters), value in zip(fields, raw):
            for convert in converters:
                value = convert(value, column, connection)
            row[name] = value
        row["started_at"] = now
        rows.append(row)
    rows.sort(key=lambda row: (row["run_at"], row["id"].int))  # RETURNING keeps no order
    return rows


@functools.lru_cache(maxsize=None)
def _claim_statement(using: str, vendor: str) -> tuple[str, list[tuple[str, Any, list[Any]]]]:
    """The claim's SQL on ``using``, and how to turn each returned column into a Python value."""
    meta = _models().Task._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    due = (
        f"SELECT {column('id')} FROM {table} WHERE {column('status')} = %s AND {column('run_at')} <= %s "
        f"ORDER BY {column('run_at')} LIMIT %s" + (" FOR UPDATE SKIP LOCKED" if vendor == "postgresql" else "")
    )
    sql = (
        f"UPDATE {table} SET {column('status')} = %s, {column('worker_id')} = %s, {column('worker')} = %s, "
        f"{column('attempts')} = {column('attempts')} + 1, {column('started_at')} = %s, "
        f"{column('finished_at')} = NULL, {column('cancel_requested')} = %s "
        f"WHERE {column('id')} IN ({due}) RETURNING {', '.join(column(name) for name in CLAIM_FIELDS)}"
    )
    fields = []
    for name in CLAIM_FIELDS:
        col = meta.get_field(name).get_col(meta.db_table)
        fields.append((name, col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return sql, fields


def _claim_select_update(using: str, worker: WorkerIdentity, limit: int) -> list[dict[str, Any]]:
    """SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE, in one transaction (MySQL/MariaDB
    have no UPDATE ... RETURNING)."""
    Task = _models().Task
    now = timeutil.now()
    with db.write_transaction(using):
        due = Task.objects.using(using).due(now)
        if db.vendor(using) != "sqlite":
            due = due.select_for_update(skip_locked=True)
        rows = list(due.values(*CLAIM_FIELDS)[:limit])
        if rows:
            Task.objects.using(using).filter(pk__in=[r["id"] for r in rows]).update(
                status=RUNNING,
                worker_id=worker.id,
                worker=worker.label,
                attempts=F("attempts") + 1,
                started_at=now,
                finished_at=None,
                cancel_requested=False,
            )
    for row in rows:
        row["attempts"] += 1
        row["started_at"] = now
    return rows


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


def finish(worker: WorkerIdentity, runs: Sequence[tuple[dict[str, Any], Outcome]]) -> list[bool]:
    """Record how each run ended, all in one transaction.

    A run's entry is False if its task was no longer held by ``worker`` (another
    worker took it over after presuming this one lost): its outcome is dropped.
    """
    using = db.alias()
    models = _models()
    connection = connections[using]
    held_sql, update_sql = _finish_statements(using, connection.vendor)
    db_uuid, db_time = _adapters(connection)

    def params(task: dict[str, Any], outcome: Outcome) -> tuple[Any, ...]:
        if outcome.status == WAITING:  # to run again: at its retry time, or now if handed back
            run_at = db_time(outcome.retry_at or task["finished_at"])
            finished_at = expires_at = result = None
        else:  # finished: run_at stays as it was (NULL keeps it)
            run_at, result = None, outcome.result
            finished_at = db_time(task["finished_at"])
            expires_at = db_time(task["finished_at"] + dt.timedelta(seconds=task["ttl"]))
        return (
            outcome.status, db_time(task["started_at"]), outcome.error_message, outcome.exception_class,
            outcome.traceback, run_at, finished_at, expires_at, result, outcome.attempts_delta, db_uuid(task["id"]),
        )

    def attempt() -> list[bool]:
        with db.write_transaction(using), connection.cursor() as cursor:
            # The tasks this worker still holds: RUNNING with its id (few rows, through the status index).
            cursor.execute(held_sql, [RUNNING, db_uuid(worker.id)])
            held = {value if isinstance(value, uuid.UUID) else uuid.UUID(value) for (value,) in cursor.fetchall()}
            records = [(task, outcome) for task, outcome in runs if task["id"] in held]
            if records:  # one statement run for the whole batch (pipelined on PostgreSQL)
                cursor.executemany(update_sql, [params(task, outcome) for task, outcome in records])
            for task, outcome in records:
                if task.get("schedule_id") and outcome.status != WAITING:
                    models.Schedule.objects.using(using).filter(pk=task["schedule_id"]).update(
                        last_run_at=task["started_at"], last_status=outcome.status, last_error=outcome.error_message
                    )
        return [task["id"] in held for task, _ in runs]

    return db.retry_locked(attempt, "finish")


@functools.lru_cache(maxsize=None)
def _finish_statements(using: str, vendor: str) -> tuple[str, str]:
    """The SELECT of the tasks a worker holds, and the UPDATE that records one run, on ``using``."""
    meta = _models().Task._meta
    quote = connections[using].ops.quote_name
    table = quote(meta.db_table)

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    held = f"SELECT {column('id')} FROM {table} WHERE {column('status')} = %s AND {column('worker_id')} = %s"
    if vendor != "sqlite":
        held += " FOR UPDATE"
    assignments = ", ".join(
        [f"{column(name)} = %s" for name in ("status", "started_at", "error_message", "exception_class", "traceback")]
        + [f"{column('run_at')} = COALESCE(%s, {column('run_at')})"]
        + [f"{column(name)} = %s" for name in ("finished_at", "expires_at", "result")]
        + [f"{column('attempts')} = {column('attempts')} + %s", f"{column('worker_id')} = NULL"]
    )
    return held, f"UPDATE {table} SET {assignments} WHERE {column('id')} = %s"


def release(worker: WorkerIdentity, task_ids: Sequence[Any]) -> None:
    """Hand claimed tasks that were never started back to the queue."""
    if not task_ids:
        return
    using = db.alias()

    def attempt() -> None:
        with db.write_transaction(using):
            _models().Task.objects.using(using).filter(pk__in=task_ids, status=RUNNING, worker_id=worker.id).update(
                status=WAITING, worker_id=None, attempts=F("attempts") - 1, started_at=None
            )

    db.retry_locked(attempt, "release")


def cancel_requested(task_id: Any) -> bool:
    return _models().Task.objects.using(db.alias()).filter(pk=task_id, cancel_requested=True).exists()


def next_due_time() -> dt.datetime | None:
    """When the earliest waiting task is due (an index lookup, never a scan)."""
    return (
        _models().Task.objects.using(db.alias()).waiting().order_by("run_at").values_list("run_at", flat=True).first()
    )


# -- keeping the table healthy -------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_lost() -> int:
    """Runs whose worker is gone are run again (if retries remain) or end ERROR.

    A worker is gone when its heartbeat is older than ``AUTOTASK_WORKER_LOST_AFTER``,
    or, on this host, when its process no longer exists.
    """
    models = _models()
    using = db.alias()
    now = timeutil.now()
    stale = now - dt.timedelta(seconds=conf.WORKER_LOST_AFTER)
    lost_workers = []
    for worker in models.Worker.objects.using(using).all():
        if worker.heartbeat_at < stale or (worker.host == HOST and not _pid_alive(worker.pid)):
            lost_workers.append(worker)
    live = set(models.Worker.objects.using(using).values_list("id", flat=True)) - {w.id for w in lost_workers}
    orphans = [
        task
        for task in models.Task.objects.using(using).running().values(
            "id", "worker_id", "worker", "attempts", "retries", "losses", "cancel_requested", "ttl", "schedule_id"
        )
        if task["worker_id"] not in live
    ]
    held = Counter(task["worker_id"] for task in orphans)
    recovered = sum(_recover(task, now, batch=held[task["worker_id"]] > 1) for task in orphans)
    if lost_workers:
        models.Worker.objects.using(using).filter(pk__in=[w.id for w in lost_workers]).delete()
    return recovered


def _recover(task: dict[str, Any], now: dt.datetime, batch: bool) -> int:
    """Settle one task held by a lost worker.

    A worker that held one task was running it: the task runs again if retries
    remain, else it ends ERROR. A worker that held several had claimed a batch of
    quick tasks: each may have run, be running or not have started, and nothing
    tells which, so each runs again and the claim's attempt is not counted (only
    ``MAX_WORKER_LOSSES`` stops a task that keeps taking its worker down).
    """
    Task = _models().Task
    using = db.alias()
    message = f"worker {task['worker']} was lost while {'holding' if batch else 'running'} this task"
    losses = task["losses"] + 1
    fields: dict[str, Any] = {"worker_id": None, "losses": losses, "error_message": message, "exception_class": "", "traceback": ""}
    if task["cancel_requested"]:
        fields.update(status=CANCELLED, error_message="cancelled", exception_class="autotask.exceptions.TaskCancelled")
    elif (batch or task["attempts"] <= task["retries"]) and losses < conf.MAX_WORKER_LOSSES:
        fields.update(status=WAITING, run_at=now + dt.timedelta(seconds=conf.RETRY_DELAY))
        if batch:
            fields.update(attempts=F("attempts") - 1)
    else:
        if losses >= conf.MAX_WORKER_LOSSES:
            message += f"; not retried: its worker was lost {losses} times"
        fields.update(status=ERROR, error_message=message, exception_class="autotask.exceptions.WorkerLost")
    if fields["status"] != WAITING:
        fields.update(finished_at=now, expires_at=now + dt.timedelta(seconds=task["ttl"]))

    def attempt() -> int:
        with db.write_transaction(using):
            return (
                Task.objects.using(using)
                .filter(pk=task["id"], status=RUNNING, worker_id=task["worker_id"])
                .update(**fields)
            )

    done = db.retry_locked(attempt, "recover")
    if done:
        logger.warning("recovered task=%s worker=%s status=%s", task["id"], task["worker"], fields["status"])
        if task.get("schedule_id") and fields["status"] != WAITING:
            _models().Schedule.objects.using(using).filter(pk=task["schedule_id"]).update(
                last_status=fields["status"], last_error=fields["error_message"]
            )
    return done


def delete_expired(chunk: int = 1000) -> int:
    """Remove finished tasks whose ttl has passed, a chunk per transaction."""
    Task = _models().Task
    using = db.alias()
    deleted = 0
    while True:
        now = timeutil.now()
        ids = list(Task.objects.using(using).expired(now).values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted

        def attempt() -> int:
            with db.write_transaction(using):
                return Task.objects.using(using).filter(pk__in=ids).delete()[0]

        deleted += db.retry_locked(attempt, "clean")
