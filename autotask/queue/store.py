"""Storing calls: the caller's side of the queue, on the caller's connection.

What is stored comes from a task definition: anything with a ``path``
(dotted path the worker imports), a ``name`` and ``options``
(``options.TaskOptions``): a ``DelayedFunction``, or an adapter's object.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import uuid
from typing import Any, Iterable, Protocol, Sequence

from django.db import connections, transaction

from .. import db, engine, signals, timeutil
from ..execution import supervisor
from ..options import TaskOptions
from ..task import BLOCKED, CANCELLED, QUEUED, RUNNING, WAITING
from . import expiry
from .sql import adapters, models

logger = logging.getLogger(__name__)


class Storable(Protocol):
    path: str
    name: str
    options: TaskOptions
    backend: str  # the django.tasks backend alias a call came through; '' for autotask's own


# Columns a new task row is stored with: every NOT NULL column, and the timeout.
# The rest are NULL until a worker runs the task. Of these, only the id and the
# arguments differ between the rows of one call of ``bulk()``.
ROW_FIELDS = ("id", "arguments")
CALL_FIELDS = (
    "function", "run_at", "retries", "ttl", "timeout", "created_at", "name", "queue_name", "priority", "backend",
)
INSERT_CONSTANTS = {
    "status": WAITING, "attempts": 0, "losses": 0, "error_message": "", "exception_class": "",
    "traceback": "", "worker": "", "cancel_requested": False, "has_dependents": False,
}
BULK_CHUNK = 5000  # rows per statement of a bulk insert (where the database takes that many parameters)


@functools.lru_cache(maxsize=None)
def _insert_statement(using: str, vendor: str, rows: int = 1) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of ``rows`` new task rows on ``using``, and its constant values, adapted.

    Its parameters: the call's values (CALL_FIELDS), the constants, then each row's
    values (ROW_FIELDS), row after row; on PostgreSQL one array per row field.
    Taking the shared values once, not once per row, is what makes ``bulk()``
    several times faster than an ``executemany()`` of single-row INSERTs.
    """
    meta = models().Task._meta
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


def _insert(using: str, task: Storable, arguments: Sequence[str], now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Store new task rows: one INSERT of the needed columns, adapted by hand.

    Django's own insert prepares all 24 columns of a row, field by field, and
    that was most of an enqueue's time: here only the values that differ
    between rows are adapted, the constants once per process.
    """
    connection = connections[using]
    vendor = connection.vendor
    db_uuid, db_time = adapters(connection)
    now = now or timeutil.now()
    options = task.options
    call = (
        task.path, db_time(options.run_at(now)), options.retries, options.ttl, options.timeout, db_time(now),
        task.name, options.queue_name, options.priority, task.backend,
    )
    ids = models().new_ids(len(arguments))
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


def _after_enqueue(using: str, ids: list[uuid.UUID], task: Storable | None = None) -> None:
    """``task``: the rows are plain calls of it, WAITING (so the hand-over needn't read them)."""
    if engine.handover is None:
        # PostgreSQL's listening workers were told by the INSERT itself.
        transaction.on_commit(supervisor.wake_companion, using=using)  # this process's own companion
    else:  # another engine (Celery) runs the tasks: it gets them once they are committed
        rows = None
        if task is not None:
            options = task.options
            known = {"run_at": options.run_at(timeutil.now()), "queue_name": options.queue_name, "priority": options.priority}
            rows = [{"id": task_id, **known} for task_id in ids]
        transaction.on_commit(functools.partial(engine.handover, ids, rows), using=using)


def enqueue(
    task: Storable, arguments: str, now: dt.datetime | None = None, fields: dict[str, Any] | None = None
) -> uuid.UUID:
    """Store one call on the caller's connection (so it commits or rolls back with
    the caller's transaction) and wake workers after the commit.

    ``now``: the time it is stored at (its ``created_at``), if the caller needs to know it.
    ``fields``: more columns to store it with (a model instance's, see ``autotask.instances``).
    """
    using = db.alias()
    if task.options.after or fields:
        return _enqueue_with(using, task, [arguments], now, fields)[0]
    [task_id] = _insert(using, task, [arguments], now)
    _after_enqueue(using, [task_id], task)
    return task_id


def enqueue_many(task: Storable, arguments: Sequence[str]) -> list[uuid.UUID]:
    """Store many calls in one transaction."""
    using = db.alias()
    if task.options.after:
        return _enqueue_with(using, task, arguments)
    with transaction.atomic(using=using):
        ids = _insert(using, task, arguments)
        _after_enqueue(using, ids, task)
    return ids


def _enqueue_with(
    using: str, task: Storable, arguments: Sequence[str], now: dt.datetime | None = None,
    fields: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """The rare way: rows with dependencies or more columns, in one transaction (a savepoint
    inside the caller's), so that a bad dependency stores nothing."""
    from . import dependencies

    with transaction.atomic(using=using):
        ids = _insert(using, task, arguments, now)
        if fields:
            models().Task.objects.using(using).filter(pk__in=ids).update(**fields)
        if task.options.after and dependencies.attach(using, ids, task.options.after):
            # A dependency had failed already: they ended CANCELLED, never to run.
            transaction.on_commit(
                lambda: dependencies.announce([(task_id, task.path) for task_id in ids]), using=using
            )
        _after_enqueue(using, ids)
    return ids


def read(task_id: uuid.UUID, fields: Iterable[str]) -> dict[str, Any] | None:
    return models().Task.objects.using(db.alias()).filter(pk=task_id).values(*fields).first()


def set_progress(task_id: uuid.UUID, percent: int) -> None:
    models().Task.objects.using(db.alias()).filter(pk=task_id).update(progress=percent)


def set_result(task_id: uuid.UUID, stored: str) -> bool:
    """Store a running task's result before it ends (``TaskBase.set_output``); False if it isn't running."""
    return bool(models().Task.objects.using(db.alias()).filter(pk=task_id, status=RUNNING).update(result=stored))


def cancel(task_id: uuid.UUID) -> bool:
    """Cancel a waiting task at once; ask the worker of a running one to stop it.

    Returns False if the task had already finished (or is gone).
    """
    from . import dependencies

    using = db.alias()
    tasks = models().Task.objects.using(using).filter(pk=task_id)
    row = tasks.values("status", "ttl", "function", "has_dependents").first()
    if row is None:
        return False
    now = timeutil.now()
    with transaction.atomic(using=using):
        cancelled = tasks.filter(status__in=(WAITING, BLOCKED, QUEUED)).update(
            status=CANCELLED,
            finished_at=now,
            expires_at=expiry.expires_at(CANCELLED, now, row["ttl"]),
            error_message="cancelled before it ran",
            exception_class="autotask.exceptions.TaskCancelled",
        )
        ended = dependencies.settle(using, [], [task_id]) if cancelled and row["has_dependents"] else []
    if cancelled:
        signals.announce_finished(task_id, row["function"], CANCELLED)
        dependencies.announce(ended)
        return True
    if tasks.filter(status=RUNNING).update(cancel_requested=True):
        return True
    logger.info("cancel task=%s: already finished, status=%s", task_id, row["status"])
    return False


