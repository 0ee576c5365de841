"""What a person can do to tasks and schedules from outside (the admin's actions).

Each operation takes a queryset (the rows someone selected, or everything
matching a changelist's filters) and changes its rows with a few set-based
statements, never one per row: ``CHUNK`` rows at a time in primary-key order,
each chunk in its own short write transaction, so that changing a million
rows never holds SQLite's write lock for long, and no row is loaded (one key
per chunk marks where the chunk ends). Each returns counts for a message.

Tasks change here exactly as ``queue`` changes them for a handle (cancel) or a
worker (run again); schedules as ``schedules.claim_due`` expects them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable

from django.db import connections, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, QuerySet, Value
from django.db.models.functions import Greatest

from . import attempt_history, db, schedules, signals, timeutil
from .conf import conf
from .execution import supervisor
from .queue import dependencies
from .task import BLOCKED, CANCELLED, ERROR, FINISHED, QUEUED, RUNNING, UNFINISHED, WAITING

CHUNK = 5000  # rows per statement (and per write transaction)

Summary = dict[str, int]  # what an operation did: {"cancelled": 3, "finished": 1}


def _models():
    from . import models

    return models


# -- tasks -----------------------------------------------------------------------------


def cancel_tasks(tasks: QuerySet) -> Summary:
    """As ``DelayedTask.cancel()``: a WAITING task ends CANCELLED at once (and ``task_finished``
    is sent for it); a RUNNING one is asked to stop (its worker stops
    it, and it ends CANCELLED); a finished one is left as it is.

    Returns ``cancelled`` (were waiting), ``stopping`` (were running) and ``finished``.
    """
    tasks = _on_autotask_db(tasks)
    total = tasks.count()
    now = timeutil.now()
    fields = dict(
        status=CANCELLED, finished_at=now, expires_at=_cancelled_expiry(now), error_message="cancelled before it ran",
        exception_class="autotask.exceptions.TaskCancelled",
    )
    ended: list[tuple[Any, str]] = []  # (id, function) of the tasks cancelled, for task_finished

    def cancel_waiting(chunk: QuerySet) -> int:
        # Locked: no worker takes them now.
        rows = list(chunk.select_for_update().values_list("id", "function", "has_dependents"))
        ended.extend((task_id, function) for task_id, function, _ in rows)
        count = chunk.filter(pk__in=[task_id for task_id, _, _ in rows]).update(**fields)
        awaited = [task_id for task_id, _, has_dependents in rows if has_dependents]
        if awaited:  # the tasks that wait for them (after=) are cancelled too
            ended.extend(dependencies.settle(chunk.db, [], awaited))
        return count

    cancelled = _in_chunks(tasks.filter(status__in=(WAITING, BLOCKED, QUEUED)), cancel_waiting)
    for task_id, function in ended:
        signals.announce_finished(task_id, function, CANCELLED)
    stopping = _in_chunks(tasks.filter(status=RUNNING), lambda chunk: chunk.update(cancel_requested=True))
    return {"cancelled": cancelled, "stopping": stopping, "finished": max(0, total - cancelled - stopping)}


def retry_fields(now: dt.datetime) -> dict[str, Any]:
    """What running a finished task again sets: WAITING, due now, as if never run."""
    return dict(
        status=WAITING, run_at=now, attempts=0, losses=0, error_message="", exception_class="", traceback="",
        result=None, progress=None, started_at=None, finished_at=None, expires_at=None, worker="", worker_id=None,
        runner_pid=None, cancel_requested=False,
    )


def retry_tasks(tasks: QuerySet) -> Summary:
    """An ERROR or CANCELLED task runs again: WAITING, due now, its attempts and error cleared.

    Returns ``retried`` and ``other`` (not ERROR or CANCELLED: left as they are).
    """
    tasks = _on_autotask_db(tasks)
    total = tasks.count()
    fields = retry_fields(timeutil.now())

    def retry(chunk: QuerySet) -> int:
        _keep_last_attempts(chunk)
        waits = list(chunk.filter(dependencies_left__isnull=False).values_list("pk", flat=True))
        count = chunk.update(**fields)
        if waits:  # tasks stored with after= wait again for what is not DONE
            dependencies.block_again(chunk.db, waits)
        return count

    retried = _in_chunks(tasks.filter(status__in=(ERROR, CANCELLED)), retry)
    if retried:
        _wake_workers(tasks.db)
    return {"retried": retried, "other": total - retried}


def _keep_last_attempts(chunk: QuerySet) -> None:
    """Before a retry clears a chunk's run record: append each task's last attempt to its
    history (one read of the chunk and one executemany, not a statement per row)."""
    rows = list(chunk.filter(started_at__isnull=False).select_for_update().values("pk", *attempt_history.FIELDS))
    updates = []
    for row in rows:
        every = attempt_history.attempts(row)
        if len(every) > len(json.loads(row["history"] or "[]")):  # the last attempt is not in the history yet
            attempt = every[-1]
            entry = attempt_history.entry(
                attempt.number, attempt.started_at, attempt.finished_at, attempt.worker, attempt.runner_pid,
                attempt.error_message, attempt.exception_class, attempt.traceback, status=attempt.status,
            )
            updates.append((attempt_history.appended(row["history"], entry), row["pk"]))
    if updates:
        Task = _models().Task
        connection = connections[chunk.db]
        column = lambda name: connection.ops.quote_name(Task._meta.get_field(name).column)  # noqa: E731
        sql = f"UPDATE {connection.ops.quote_name(Task._meta.db_table)} SET {column('history')} = %s WHERE {column('id')} = %s"
        adapt = Task._meta.pk.get_db_prep_value
        with connection.cursor() as cursor:
            cursor.executemany(sql, [(text, adapt(pk, connection)) for text, pk in updates])


def run_tasks_now(tasks: QuerySet) -> Summary:
    """A WAITING task that is not due yet becomes due now.

    Returns ``moved``, ``due`` (were due already) and ``other`` (not waiting).
    """
    tasks = _on_autotask_db(tasks)
    total = tasks.count()
    waiting = tasks.filter(status__in=(WAITING, QUEUED)).count()
    now = timeutil.now()
    # A QUEUED one (handed to Celery with its ETA) becomes WAITING: a dispatcher sends it now.
    moved = _in_chunks(
        tasks.filter(status__in=(WAITING, QUEUED), run_at__gt=now), lambda chunk: chunk.update(run_at=now, status=WAITING)
    )
    if moved:
        _wake_workers(tasks.db)
    return {"moved": moved, "due": max(0, waiting - moved), "other": total - waiting}


def count_finished(tasks: QuerySet) -> Summary:
    """How many of ``tasks`` are finished (and so may be deleted), and how many not."""
    tasks = _on_autotask_db(tasks)
    total = tasks.count()
    finished = tasks.filter(status__in=FINISHED).count()
    return {"finished": finished, "unfinished": total - finished}


def delete_finished_tasks(tasks: QuerySet) -> Summary:
    """Delete the finished tasks among ``tasks``; unfinished ones are kept.

    Returns ``deleted`` and ``kept``.
    """
    tasks = _on_autotask_db(tasks)
    total = tasks.count()
    label = tasks.model._meta.label
    deleted = _in_chunks(tasks.filter(status__in=FINISHED), lambda chunk: chunk.delete()[1].get(label, 0))
    return {"deleted": deleted, "kept": total - deleted}


# -- schedules ---------------------------------------------------------------------------


def run_schedules_now(selected: QuerySet) -> Summary:
    """One extra run of each schedule, due now; the schedule's next due time stays.

    A schedule whose previous run is still waiting or running gets none (runs of a
    schedule never overlap, and a second click adds nothing); nor does a stopped
    one (its function is gone). The schedule rows are locked while this looks, so
    two people clicking at once still add one run. A paused schedule can be run
    this way. Returns ``started``, ``busy`` and ``stopped``.
    """
    models = _models()
    using = db.alias()

    def attempt() -> Summary:
        with db.write_transaction(using):
            rows = list(_on_autotask_db(selected).select_for_update().order_by("pk").values("id", "function", "active"))
            ids = [row["id"] for row in rows]
            busy = set(
                models.Task.objects.using(using)
                .filter(schedule_id__in=ids, status__in=UNFINISHED)
                .values_list("schedule_id", flat=True)
            )
            now = timeutil.now()
            runs = [
                models.Task(
                    function=row["function"], run_at=now, due_at=now, schedule_id=row["id"],
                    ttl=int(conf.SCHEDULE_RUN_TTL), created_at=now,
                )
                for row in rows
                if row["active"] and row["id"] not in busy
            ]
            models.Task.objects.using(using).bulk_create(runs)
            if runs:
                _wake_workers(using)
            stopped = sum(1 for row in rows if not row["active"])
            return {"started": len(runs), "busy": len(rows) - len(runs) - stopped, "stopped": stopped}

    return db.retry_locked(attempt, "run schedules now")


def pause_schedules(selected: QuerySet) -> Summary:
    """A paused schedule does not run until resumed, across worker restarts and deploys
    (``schedules.sync`` leaves ``paused`` alone). A run already stored still runs.

    Returns ``paused`` and ``already``.
    """
    selected = _on_autotask_db(selected)
    total = selected.count()
    pausing = selected.filter(paused=False)
    paused = db.retry_locked(lambda: _write(selected.db, lambda: pausing.update(paused=True)), "pause")
    return {"paused": paused, "already": total - paused}


def resume_schedules(selected: QuerySet) -> Summary:
    """A resumed schedule goes on from its first due time after now: the due times it
    missed while paused don't run. Returns ``resumed`` and ``already`` (were not paused)."""
    selected = _on_autotask_db(selected)
    using = selected.db
    total = selected.count()
    now = timeutil.aware(timeutil.now())
    resumed = 0
    # Schedules are few (one row per decorated function): one short update each.
    for row in selected.filter(paused=True).values("id", "function", "next_run_at"):
        stored = timeutil.aware(row["next_run_at"]) if row["next_run_at"] else None
        following = schedules.first_due_after(row["function"], stored, now)
        fields: dict[str, Any] = {"paused": False}
        if following is not None:
            fields["next_run_at"] = timeutil.to_db(following)
        query = selected.model.objects.using(using).filter(pk=row["id"], paused=True)
        resumed += db.retry_locked(lambda: _write(using, lambda: query.update(**fields)), "resume")
    if resumed:
        _wake_workers(using)
    return {"resumed": resumed, "already": total - resumed}


# -- helpers -----------------------------------------------------------------------------


def _on_autotask_db(queryset: QuerySet) -> QuerySet:
    return queryset.using(db.alias()).order_by()


def _cancelled_expiry(now: dt.datetime) -> ExpressionWrapper | None:
    """When the record of a task cancelled ``now`` is removed, as SQL, each row by its own
    ttl: the rule of ``queue.expiry`` (the longer of its ttl and AUTOTASK_FAILED_TTL;
    None: kept)."""
    if conf.FAILED_TTL is None:
        return None
    seconds = Greatest(F("ttl"), Value(int(conf.FAILED_TTL)))
    if connections[db.alias()].features.has_native_duration_field:
        ttl = ExpressionWrapper(seconds * Value(dt.timedelta(seconds=1)), output_field=DurationField())
    else:  # SQLite and MySQL store durations as whole microseconds
        ttl = ExpressionWrapper(seconds * Value(1_000_000), output_field=DurationField())
    return ExpressionWrapper(Value(now, output_field=DateTimeField()) + ttl, output_field=DateTimeField())


def _write(using: str, change: Callable[[], int]) -> int:
    with db.write_transaction(using):
        return change()


def _in_chunks(queryset: QuerySet, change: Callable[[QuerySet], int]) -> int:
    """Apply ``change`` (an update or delete) to ``queryset``, CHUNK rows at a time in
    primary-key order, each chunk in its own write transaction; the sum of its counts."""
    using = queryset.db
    total, after = 0, None
    while True:
        rest = queryset if after is None else queryset.filter(pk__gt=after)
        bound = list(rest.order_by("pk").values_list("pk", flat=True)[CHUNK - 1 : CHUNK])
        chunk = rest.filter(pk__lte=bound[0]) if bound else rest
        total += db.retry_locked(lambda: _write(using, lambda: change(chunk)), "bulk change")
        if not bound:
            return total
        after = bound[0]


def _wake_workers(using: str) -> None:
    """Tell idle workers that tasks became due: PostgreSQL's listeners at commit, and this
    process's companion. (SQLite's and MySQL's workers notice by themselves.)"""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [db.NOTIFY_CHANNEL])
    transaction.on_commit(supervisor.wake_companion, using=using)
