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
import logging
import os
import socket
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

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
FINISH_FIELDS = ("status", "worker_id", "started_at", "error_message", "exception_class", "traceback", "run_at",
                 "finished_at", "expires_at", "result")


def _models():
    from . import models

    return models


# -- the caller's side ---------------------------------------------------------


# Columns a new task row is stored with: every NOT NULL column, and the timeout.
# The rest are NULL until a worker runs the task.
INSERT_FIELDS = ("id", "function", "arguments", "run_at", "retries", "ttl", "timeout", "created_at")
INSERT_CONSTANTS = {
    "status": WAITING, "attempts": 0, "losses": 0, "error_message": "", "exception_class": "",
    "traceback": "", "worker": "", "cancel_requested": False,
}


def _adapters(connection: Any) -> tuple[Callable[[uuid.UUID], Any], Callable[[dt.datetime], Any]]:
    """How ``connection`` takes a UUID and a datetime, for values already of their
    fields' types: what ``get_db_prep_value`` of UUIDField and DateTimeField ends
    with, without their checks (those were a fifth to a third of the time of an
    enqueue, a claim or a record)."""
    native = connection.features.has_native_uuid_field
    return (lambda value: value) if native else (lambda value: value.hex), connection.ops.adapt_datetimefield_value


@functools.lru_cache(maxsize=None)
def _insert_statement(using: str, vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of a new task row on ``using``, and its constant values, adapted."""
    meta = _models().Task._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = [quote(meta.get_field(name).column) for name in (*INSERT_FIELDS, *INSERT_CONSTANTS)]
    sql = f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    constants = tuple(meta.get_field(name).get_db_prep_save(value, connection) for name, value in INSERT_CONSTANTS.items())
    return sql, constants


def _insert(using: str, func: DelayedFunction, arguments: Sequence[str]) -> list[uuid.UUID]:
    """Store new task rows with one INSERT statement, run once per row.

    Django's own insert prepares all 24 columns of a row, field by field, and
    that was most of an enqueue's time: here only the values that differ
    between rows are adapted, the constants once per process.
    """
    models = _models()
    connection = connections[using]
    sql, constants = _insert_statement(using, connection.vendor)
    db_uuid, db_time = _adapters(connection)
    now = timeutil.now()
    created_at, run_at = db_time(now), db_time(now + dt.timedelta(seconds=func.delay))
    ids = [models.new_id() for _ in arguments]
    rows = [
        (db_uuid(task_id), func.path, stored, run_at, func.retries, func.ttl, func.timeout, created_at, *constants)
        for task_id, stored in zip(ids, arguments)
    ]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)
    return ids


def _after_enqueue(using: str) -> None:
    db.notify(using)  # PostgreSQL: wakes every listening worker, at commit
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
    rows.sort(key=lambda row: (row["run_at"], row["id"]))  # RETURNING keeps no order
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

    def fields_for(task: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        finished = outcome.status != WAITING
        return {
            "status": outcome.status,
            "worker_id": None,
            "started_at": task["started_at"],
            "error_message": outcome.error_message,
            "exception_class": outcome.exception_class,
            "traceback": outcome.traceback,
            "run_at": task["run_at"] if finished else (outcome.retry_at or task["finished_at"]),
            "finished_at": task["finished_at"] if finished else None,
            "expires_at": task["finished_at"] + dt.timedelta(seconds=task["ttl"]) if finished else None,
            "result": outcome.result if finished else None,
        }

    def attempt() -> list[bool]:
        Task = models.Task.objects.using(using)
        with db.write_transaction(using):
            ours = Task.filter(pk__in=[task["id"] for task, _ in runs], status=RUNNING, worker_id=worker.id)
            if db.vendor(using) != "sqlite":
                ours = ours.select_for_update()
            held = set(ours.values_list("id", flat=True))
            records = [(task, outcome) for task, outcome in runs if task["id"] in held]
            # One prepared statement run for the whole batch (pipelined on PostgreSQL).
            _update_many(using, [fields_for(task, outcome) | {"id": task["id"]} for task, outcome in records])
            for task, outcome in records:
                if outcome.attempts_delta:
                    Task.filter(pk=task["id"]).update(attempts=F("attempts") + outcome.attempts_delta)
                if task.get("schedule_id") and outcome.status != WAITING:
                    models.Schedule.objects.using(using).filter(pk=task["schedule_id"]).update(
                        last_run_at=task["started_at"], last_status=outcome.status, last_error=outcome.error_message
                    )
        return [task["id"] in held for task, _ in runs]

    return db.retry_locked(attempt, "finish")


def _update_many(using: str, rows: list[dict[str, Any]]) -> None:
    """``UPDATE autotask_task SET <FINISH_FIELDS> WHERE id = ...`` for each row, in one executemany."""
    if not rows:
        return
    connection = connections[using]
    sql, kinds = _finish_statement(using, connection.vendor)
    db_uuid, db_time = _adapters(connection)
    adapt = {"uuid": db_uuid, "time": functools.lru_cache(maxsize=None)(db_time)}  # a batch's runs share most times
    params = [
        [row[name] if kind == "text" or row[name] is None else adapt[kind](row[name]) for name, kind in kinds]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


@functools.lru_cache(maxsize=None)
def _finish_statement(using: str, vendor: str) -> tuple[str, list[tuple[str, str]]]:
    """The UPDATE that records a run on ``using``, and the kind of each parameter."""
    meta = _models().Task._meta
    quote = connections[using].ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in FINISH_FIELDS)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    kinds = []
    for name in (*FINISH_FIELDS, "id"):
        field = meta.get_field(name)
        kind = {"DateTimeField": "time", "UUIDField": "uuid"}.get(field.get_internal_type(), "text")
        kinds.append((name, kind))
    return sql, kinds


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
