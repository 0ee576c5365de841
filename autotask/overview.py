"""One look at the queue: what the dashboard and ``manage.py autotask_status`` show.

Every figure comes from an index or a small table, so that a snapshot stays
quick with a million task rows and adds no index to the task table:

- counts by status: exact up to ``COUNT_CAP`` per status (a range of the due
  index, read no further); above that the planner's estimate, or on SQLite a
  lower bound, marked as such; the due tasks the same way;
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
from django.db.models import Count as Rows, F, QuerySet
from django.db.models.functions import Left

from . import db, stats, timeutil
from .conf import conf
from .task import CANCELLED, DONE, ERROR, RUNNING, WAITING

STATUSES = (WAITING, RUNNING, DONE, ERROR, CANCELLED)
COUNT_CAP = 10_000  # rows of one status counted exactly, at most
FAILURES = 10
SCHEDULES = 20  # shown
MAX_SCHEDULES = 1000  # read (a schedule is a decorated function: there are few)
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


def snapshot(now: dt.datetime | None = None, grace: float = 0.0, exact: bool = False) -> dict[str, Any]:
    """Every figure of the dashboard, as plain values (datetimes aware where USE_TZ is).

    ``grace``: a task or schedule counts as due for the health check once it is that many
    seconds late. ``exact``: count every status exactly (reads the whole table)."""
    models = _models()
    using = db.alias()
    now = now or timeutil.now()
    tasks = models.Task.objects.using(using)
    counts, due = status_counts(using, now, exact)
    oldest = tasks.due(now).values("id", "run_at").first()
    workers = _workers(now)
    schedules = _schedules()
    late = now - dt.timedelta(seconds=grace)
    overdue_schedules = sum(1 for s in schedules if s["active"] and not s["paused"] and s["next_run_at"] and s["next_run_at"] <= late)
    series, pickup = stats.recent(now)
    figures: dict[str, Any] = {
        "now": now,
        "counts": {status: asdict(count) | {"text": str(count)} for status, count in counts.items()},
        "due": {
            "count": asdict(due) | {"text": str(due)},
            "oldest_id": oldest["id"] if oldest else None,
            "oldest_due_at": oldest["run_at"] if oldest else None,
            "oldest_age": (now - oldest["run_at"]).total_seconds() if oldest else None,
        },
        "per_minute": series,
        "last_hour": {name: sum(minute[name] for minute in series) for name in stats.COUNTERS},
        "pickup": pickup,
        "workers": workers,
        "schedules": schedules[:SCHEDULES],
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


def status_counts(using: str, now: dt.datetime, exact: bool = False) -> tuple[dict[str, Count], Count]:
    """Rows per status, and the due waiting ones: exact up to COUNT_CAP, above that an
    estimate or a lower bound. ``exact``: a count of every row (reads the whole table)."""
    tasks = _models().Task.objects.using(using)
    if exact:
        found = dict(tasks.order_by().values_list("status").annotate(rows=Rows("pk")))
        due = tasks.filter(status=WAITING, run_at__lte=now).count()
        return {status: Count(found.get(status, 0)) for status in STATUSES}, Count(due)
    capped = _capped_counts(using, now)
    counts = {status: Count(capped[status]) if capped[status] <= COUNT_CAP else None for status in STATUSES}
    over = [status for status, count in counts.items() if count is None]
    # Above the cap: the planner's estimate. SQLite keeps no statistics of the kind, and a
    # count of a million index entries takes longer than the dashboard may: a lower bound
    # there, "10,000+" (``autotask_status --exact`` counts).
    estimates = _planner_estimates(using, over) if over and connections[using].vendor != "sqlite" else {}
    for status in over:
        estimate = estimates.get(status, 0)
        counts[status] = Count(estimate, "approx") if estimate > COUNT_CAP else Count(COUNT_CAP, "at_least")
    due = capped["due"]
    return counts, Count(due) if due <= COUNT_CAP else Count(COUNT_CAP, "at_least")


def _capped_counts(using: str, now: dt.datetime) -> dict[str, int]:
    """The rows of each status, and the due waiting rows, each counted up to COUNT_CAP + 1
    (a range of the due index, read no further), in one statement."""
    connection = connections[using]
    meta = _models().Task._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    status, run_at = (quote(meta.get_field(name).column) for name in ("status", "run_at"))
    parts, params, names = [], [], []
    for index, (name, due) in enumerate([(s, False) for s in STATUSES] + [("due", True)]):
        where = f"{status} = %s" + (f" AND {run_at} <= %s" if due else "")
        parts.append(f"SELECT {index}, COUNT(*) FROM (SELECT 1 AS one FROM {table} WHERE {where} LIMIT %s) c{index}")
        params += [WAITING if due else name] + ([connection.ops.adapt_datetimefield_value(now)] if due else [])
        params.append(COUNT_CAP + 1)
        names.append(name)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {names[index]: count for index, count in cursor.fetchall()}


def _planner_estimates(using: str, statuses: list[str]) -> dict[str, int]:
    """The planner's estimate of the rows of each of ``statuses`` (PostgreSQL, MySQL/MariaDB):
    one EXPLAIN of their UNION ALL, which reads no rows, only the table's statistics."""
    connection = connections[using]
    meta = _models().Task._meta
    quote = connection.ops.quote_name
    part = f"SELECT 1 FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('status').column)} = %s"
    sql = " UNION ALL ".join([part] * len(statuses))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, statuses)
            plan = cursor.fetchone()[0]
            plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            rows = [child["Plan Rows"] for child in plan["Plans"]] if len(statuses) > 1 else [plan["Plan Rows"]]
        else:
            cursor.execute("EXPLAIN " + sql, statuses)
            columns = [column[0].lower() for column in cursor.description]
            found = [row for row in cursor.fetchall() if row[columns.index("id")] is not None]
            rows = [row[columns.index("rows")] or 0 for row in sorted(found, key=lambda row: row[columns.index("id")])]
    return {status: int(estimate) for status, estimate in zip(statuses, rows)}


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
    """The schedules that will run, soonest first, then the paused and the stopped ones
    (the dashboard shows the first SCHEDULES; the health check looks at all)."""
    return list(
        _models()
        .Schedule.objects.using(db.alias())
        .order_by("-active", "paused", F("next_run_at").asc(nulls_last=True))
        .values(
            "id", "function", "kind", "expression", "timezone", "active", "paused", "next_run_at", "last_run_at",
            "last_status", last_error_text=Left("last_error", MESSAGE_CHARS),
        )[:MAX_SCHEDULES]
    )
