"""One look at the queue: what the dashboard and ``manage.py autotask_status`` show.

Every figure comes from an index or a small table, so that a snapshot stays
quick with a million task rows and adds no index to the task table:

- counts by status: exact up to ``COUNT_CAP`` per status (a range of the due
  index, read no further); above that an estimate, marked as one
  (``_estimate``); the due waiting tasks the same way;
- the oldest due waiting task: the first entry of the due index;
- runs per minute and pickup delays: ``autotask.stats`` (rows the workers write);
- workers: the worker table, their current tasks the RUNNING rows;
- schedules: the schedule table; recent failures: the ERROR rows due last.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connections
from django.db.models import F, QuerySet
from django.db.models.functions import Left

from . import db, stats, timeutil
from .conf import conf
from .task import CANCELLED, DONE, ERROR, RUNNING, WAITING

STATUSES = (WAITING, RUNNING, DONE, ERROR, CANCELLED)
COUNT_CAP = 10_000  # rows of one status counted exactly, at most
SQLITE_SECOND_CAP = 100_000  # on SQLite, where no planner estimate exists: a second, longer look
FAILURES = 10
SCHEDULES = 20
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Count:
    """A number of rows: ``exact``, or an estimate (``approx``), or a lower bound (``at_least``)."""

    value: int
    kind: str = "exact"  # exact | approx | at_least

    def __str__(self) -> str:
        text = f"{self.value:,}"
        return {"approx": f"≈{text}", "at_least": f"{text}+"}.get(self.kind, text)


def _models():
    from . import models

    return models


def snapshot(now: dt.datetime | None = None, grace: float = 0.0) -> dict[str, Any]:
    """Every figure of the dashboard, as plain values (datetimes aware where USE_TZ is)."""
    models = _models()
    using = db.alias()
    now = now or timeutil.now()
    tasks = models.Task.objects.using(using)
    counts = status_counts(tasks)
    oldest = tasks.due(now).values("id", "run_at").first()
    workers = _workers(now)
    overdue_schedules = (
        models.Schedule.objects.using(using)
        .filter(active=True, paused=False, next_run_at__lte=now - dt.timedelta(seconds=grace))
        .count()
    )
    series = stats.per_minute(now)
    figures: dict[str, Any] = {
        "now": now,
        "counts": {status: asdict(count) | {"text": str(count)} for status, count in counts.items()},
        "due": {
            "count": asdict(due := _capped(tasks.filter(status=WAITING, run_at__lte=now))) | {"text": str(due)},
            "oldest_id": oldest["id"] if oldest else None,
            "oldest_due_at": oldest["run_at"] if oldest else None,
            "oldest_age": (now - oldest["run_at"]).total_seconds() if oldest else None,
        },
        "per_minute": series,
        "last_hour": {name: sum(minute[name] for minute in series) for name in stats.COUNTERS},
        "pickup": stats.pickup(now),
        "workers": workers,
        "schedules": _schedules(),
        "failures": list(
            tasks.filter(status=ERROR)
            .order_by("-run_at")
            .values("id", "function", "exception_class", "run_at", "finished_at", message=Left("error_message", MESSAGE_CHARS))[:FAILURES]
        ),
    }
    alive = sum(1 for worker in workers if worker["alive"])
    problems = []
    if not alive:  # work waits that nothing will do
        if oldest is not None and figures["due"]["oldest_age"] >= grace:
            problems.append(f"{figures['due']['count']['text']} tasks are due and no worker is alive")
        if overdue_schedules:
            problems.append(f"{overdue_schedules} schedules are due and no worker is alive")
    figures["health"] = {"ok": not problems, "problems": problems, "workers_alive": alive}
    return figures


# -- counts ----------------------------------------------------------------------------------


def status_counts(tasks: QuerySet) -> dict[str, Count]:
    """Rows per status: exact up to COUNT_CAP, above that an estimate."""
    counts: dict[str, Count] = {}
    over = []
    for status in STATUSES:
        count = _capped(tasks.filter(status=status))
        if count.kind == "exact":
            counts[status] = count
        else:
            over.append(status)
    if over:
        counts.update(_estimate(tasks, over, counts))
    return {status: counts[status] for status in STATUSES}


def _capped(queryset: QuerySet, cap: int | None = None) -> Count:
    """The rows of ``queryset``, counted up to ``cap`` (COUNT_CAP): an index range read no further."""
    cap = COUNT_CAP if cap is None else cap
    value = queryset.order_by().values("status")[: cap + 1].count()
    return Count(value) if value <= cap else Count(cap, "at_least")


def _estimate(tasks: QuerySet, over: list[str], exact: dict[str, Count]) -> dict[str, Count]:
    """Counts of the statuses with more than COUNT_CAP rows.

    PostgreSQL and MySQL/MariaDB: the planner's estimate (from the table statistics;
    an EXPLAIN, which reads no rows). SQLite has none: it counts those statuses a
    second time up to SQLITE_SECOND_CAP; if one status is left above that, its count
    is the table's row count (a quick count of the smallest index) minus the others.
    """
    vendor = connections[tasks.db].vendor
    if vendor != "sqlite":
        result = {}
        for status in over:
            estimate = _planner_rows(tasks.filter(status=status))
            result[status] = Count(estimate, "approx") if estimate > COUNT_CAP else Count(COUNT_CAP, "at_least")
        return result
    result, left = {}, []
    for status in over:
        count = _capped(tasks.filter(status=status), SQLITE_SECOND_CAP) if len(over) > 1 else Count(0, "at_least")
        if count.kind == "exact":
            result[status] = count
        else:
            left.append(status)
    if len(left) == 1:
        known = sum(count.value for count in (*exact.values(), *result.values()))
        result[left[0]] = Count(tasks.order_by().count() - known)
    else:
        result.update({status: Count(SQLITE_SECOND_CAP, "at_least") for status in left})
    return result


def _planner_rows(queryset: QuerySet) -> int:
    sql, params = queryset.order_by().values("status").query.sql_with_params()
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            return int(plan[0]["Plan"]["Plan Rows"])
        cursor.execute("EXPLAIN " + sql, params)
        columns = [column[0].lower() for column in cursor.description]
        return int(max((row[columns.index("rows")] or 0) for row in cursor.fetchall()))


# -- workers and schedules -------------------------------------------------------------------


def _workers(now: dt.datetime) -> list[dict[str, Any]]:
    models = _models()
    using = db.alias()
    lost_after = dt.timedelta(seconds=conf.WORKER_LOST_AFTER)
    running: dict[Any, list[dict[str, Any]]] = {}
    for task in (
        models.Task.objects.using(using)
        .running()
        .order_by()
        .values("id", "function", "started_at", "progress", "worker_id")[:500]
    ):
        running.setdefault(task.pop("worker_id"), []).append(task)
    workers = []
    for worker in models.Worker.objects.using(using).order_by("host", "pid")[:200]:
        workers.append(
            {
                "id": worker.id,
                "host": worker.host,
                "pid": worker.pid,
                "companion": worker.companion,
                "started_at": worker.started_at,
                "heartbeat_at": worker.heartbeat_at,
                "heartbeat_age": (now - worker.heartbeat_at).total_seconds(),
                "alive": now - worker.heartbeat_at < lost_after,
                "tasks_done": worker.tasks_done,
                "running": running.get(worker.id, []),
            }
        )
    return workers


def _schedules() -> list[dict[str, Any]]:
    """The schedules that will run, soonest first, then the paused and the stopped ones."""
    return list(
        _models()
        .Schedule.objects.using(db.alias())
        .order_by("-active", "paused", F("next_run_at").asc(nulls_last=True))
        .values(
            "id", "function", "kind", "expression", "timezone", "active", "paused", "next_run_at", "last_run_at",
            "last_status", last_error_text=Left("last_error", MESSAGE_CHARS),
        )[:SCHEDULES]
    )
