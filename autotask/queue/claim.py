"""Claiming due tasks for a worker, handing back the ones it won't run.

A claim takes due tasks in the order of the claim index (``status``,
``-priority``, ``run_at``): highest priority first, then oldest due first,
limited to the worker's queues if it has any.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

from django.db import connections
from django.db.models import F

from .. import db, timeutil
from ..task import RUNNING, WAITING
from .sql import HOST, RowReader, adapters, column_namer, models, row_reader

CLAIM_FIELDS = (
    "id", "function", "arguments", "run_at", "attempts", "retries", "ttl", "timeout", "schedule_id", "due_at",
    "queue_name", "priority",
    # For signal receivers that describe the task (a django.tasks TaskResult): a query
    # per batch for them cost the django.tasks path more than these two columns cost a claim.
    "created_at", "backend",
)


@dataclass
class WorkerIdentity:
    id: uuid.UUID
    label: str  # host:pid
    queues: tuple[str, ...] = field(default=())  # the queues it takes; () = all

    @classmethod
    def new(cls, queues: Sequence[str] = ()) -> WorkerIdentity:
        from ..models import new_id

        return cls(id=new_id(), label=f"{HOST}:{os.getpid()}", queues=tuple(queues))


def register_worker(worker: WorkerIdentity, companion: bool = False) -> None:
    """Store (or refresh) ``worker``'s row, which its heartbeat keeps fresh.

    In a write transaction from its start: on SQLite, ``update_or_create``'s own
    transaction reads first, and its write then failed at once ("database is locked":
    SQLite doesn't wait out a stale read) whenever another worker had written since."""
    using = db.alias()
    now = timeutil.now()

    def attempt() -> None:
        with db.write_transaction(using):
            models().Worker.objects.using(using).update_or_create(
                id=worker.id,
                defaults=dict(
                    host=HOST, pid=int(worker.label.rsplit(":", 1)[1]), companion=companion,
                    queues=",".join(worker.queues), started_at=now, heartbeat_at=now,
                ),
            )

    db.retry_locked(attempt, "register")


def claim(worker: WorkerIdentity, limit: int) -> list[dict[str, Any]]:
    """Mark up to ``limit`` due tasks RUNNING for ``worker`` and return them, in claim order.

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
    sql, read = _claim_statement(using, connection.vendor, len(worker.queues))
    db_uuid, db_time = adapters(connection)
    now = timeutil.now()
    params = [RUNNING, db_uuid(worker.id), worker.label, db_time(now), False, WAITING, db_time(now), *worker.queues, limit]
    with db.write_transaction(using) if connection.vendor == "sqlite" else contextlib.nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            raw_rows = cursor.fetchall()
    rows = read(raw_rows)
    for row in rows:
        row["started_at"] = now
    rows.sort(key=lambda row: (-row["priority"], row["run_at"], row["id"].int))  # RETURNING keeps no order
    return rows


def _due_condition(column: Any, queues: int) -> str:
    """The WHERE of due tasks; its parameters: WAITING, now, then each queue."""
    condition = f"{column('status')} = %s AND {column('run_at')} <= %s"
    if queues:
        condition += f" AND {column('queue_name')} IN ({', '.join(['%s'] * queues)})"
    return condition


@functools.lru_cache(maxsize=None)
def _claim_statement(using: str, vendor: str, queues: int) -> tuple[str, RowReader]:
    """The claim's SQL on ``using`` for a worker limited to ``queues`` queues (0: all), and how
    to turn each returned column into a Python value."""
    Task = models().Task
    meta = Task._meta
    connection = connections[using]
    column = column_namer(connection, Task)
    table = connection.ops.quote_name(meta.db_table)
    due = (
        f"SELECT {column('id')} FROM {table} WHERE {_due_condition(column, queues)} "
        f"ORDER BY {column('priority')} DESC, {column('run_at')} LIMIT %s"
        + (" FOR UPDATE SKIP LOCKED" if vendor == "postgresql" else "")
    )
    # PostgreSQL: "= ANY(ARRAY(...))", the ids found first, then each row through the primary
    # key. With "IN (...)" its planner joins instead, and on a table of a few thousand rows
    # chose to read all of them (a hash join): a claim's time grew with the table.
    chosen = f"= ANY(ARRAY({due}))" if vendor == "postgresql" else f"IN ({due})"
    sql = (
        f"UPDATE {table} SET {column('status')} = %s, {column('worker_id')} = %s, {column('worker')} = %s, "
        f"{column('attempts')} = {column('attempts')} + 1, {column('started_at')} = %s, "
        f"{column('finished_at')} = NULL, {column('cancel_requested')} = %s "
        f"WHERE {column('id')} {chosen} RETURNING {', '.join(column(name) for name in CLAIM_FIELDS)}"
    )
    return sql, row_reader(connection, Task, CLAIM_FIELDS)


def _claim_select_update(using: str, worker: WorkerIdentity, limit: int) -> list[dict[str, Any]]:
    """SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE, in one transaction (MySQL/MariaDB
    have no UPDATE ... RETURNING)."""
    Task = models().Task
    now = timeutil.now()
    with db.write_transaction(using):
        due = _of_queues(Task.objects.using(using).due(now), worker.queues)
        if db.vendor(using) != "sqlite":
            due = due.select_for_update(skip_locked=True)
        return _mark_running(using, worker, list(due.values(*CLAIM_FIELDS)[:limit]), now)


def _mark_running(using: str, worker: WorkerIdentity, rows: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Mark ``rows`` (read, locked, in the caller's write transaction) RUNNING for ``worker``."""
    if rows:
        models().Task.objects.using(using).filter(pk__in=[r["id"] for r in rows]).update(
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


def claim_task(worker: WorkerIdentity, task_id: uuid.UUID) -> dict[str, Any] | None:
    """Mark the task ``task_id`` RUNNING for ``worker`` if it is WAITING, due or not, and
    return it as ``claim`` would; None if it isn't waiting (finished, running, gone).

    Not for worker loops (they take what is due, with ``claim``): for running one
    given task here and now (``AUTOTASK_EAGER``, see ``autotask.eager``).
    """
    using = db.alias()

    def attempt() -> list[dict[str, Any]]:
        with db.write_transaction(using):
            rows = models().Task.objects.using(using).filter(pk=task_id, status=WAITING)
            if db.vendor(using) != "sqlite":
                rows = rows.select_for_update()
            return _mark_running(using, worker, list(rows.values(*CLAIM_FIELDS)), timeutil.now())

    claimed = db.retry_locked(attempt, "claim")
    return claimed[0] if claimed else None


def release(worker: WorkerIdentity, task_ids: Sequence[Any]) -> None:
    """Hand claimed tasks that were never started back to the queue."""
    if not task_ids:
        return
    using = db.alias()

    def attempt() -> None:
        with db.write_transaction(using):
            models().Task.objects.using(using).filter(pk__in=task_ids, status=RUNNING, worker_id=worker.id).update(
                status=WAITING, worker_id=None, attempts=F("attempts") - 1, started_at=None
            )

    db.retry_locked(attempt, "release")


def cancel_requested(worker: WorkerIdentity) -> set[uuid.UUID]:
    """The ids of the tasks ``worker`` runs whose cancel was asked for (one query for all of them)."""
    running = models().Task.objects.using(db.alias()).filter(status=RUNNING, worker_id=worker.id, cancel_requested=True)
    return set(running.values_list("id", flat=True))


def _of_queues(tasks: Any, queues: Sequence[str]) -> Any:
    """``tasks`` limited to ``queues`` (all queues if none are given)."""
    return tasks.filter(queue_name__in=queues) if queues else tasks


def waits_before(priority: int, queues: Sequence[str] = ()) -> bool:
    """Whether a due task (of ``queues``, if given) has a priority above ``priority``: it
    reads the claim index's entries above that priority, never those at or below it."""
    due = models().Task.objects.using(db.alias()).due(timeutil.now())
    return _of_queues(due.filter(priority__gt=priority), queues).exists()


def next_due_time(queues: Sequence[str] = ()) -> dt.datetime | None:
    """When the earliest waiting task (of ``queues``, if given) is due.

    The claim index is ordered by priority, then due time: the first entry of
    each priority present is that priority's earliest. One index lookup per
    priority in use (usually one or two), never a scan.
    """
    waiting = _of_queues(models().Task.objects.using(db.alias()).waiting(), queues)
    earliest, below = None, None
    while True:
        rows = waiting if below is None else waiting.filter(priority__lt=below)
        first = rows.order_by("-priority", "run_at").values_list("priority", "run_at").first()
        if first is None:
            return earliest
        below, run_at = first
        earliest = run_at if earliest is None or run_at < earliest else earliest
