"""One look at the queue: what the dashboard and ``manage.py autotask_status`` show.

Every figure comes from an index or a small table, so that a snapshot stays
quick with a million task rows and adds no index to the task table:

- counts by status and queue, the due tasks and the oldest of them:
  ``autotask.counts`` (capped reads of the claim index, then estimates);
- runs per minute and pickup delays: ``autotask.stats`` (rows the workers write);
- workers: the worker table, their current tasks the RUNNING rows;
- schedules: the schedule table; recent failures: the ERROR rows due last, per
  priority from the claim index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.functions import Left

from . import db, stats, timeutil
from .conf import conf
from .counts import Count, count_tasks
from .task import ERROR

FAILURES = 10
SCHEDULES = 20  # shown
MAX_SCHEDULES = 1000  # read (a schedule is a decorated function: there are few)
MESSAGE_CHARS = 300


def _models():
    from . import models

    return models


def _shown(count: Count) -> dict[str, Any]:
    return asdict(count) | {"text": str(count)}


def snapshot(now: dt.datetime | None = None, grace: float = 0.0, exact: bool = False) -> dict[str, Any]:
    """Every figure of the dashboard, as plain values (datetimes aware where USE_TZ is).

    ``grace``: a task or schedule counts as due for the health check once it is that many
    seconds late. ``exact``: count every task exactly (reads the whole table)."""
    using = db.alias()
    now = now or timeutil.now()
    tasks = _models().Task.objects.using(using)
    counted = count_tasks(using, now, exact)
    oldest = counted.oldest_due
    workers = _workers(now)
    schedules = _schedules()
    late = now - dt.timedelta(seconds=grace)
    overdue_schedules = sum(
        1 for s in schedules if s["active"] and not s["paused"] and s["next_run_at"] and s["next_run_at"] <= late
    )
    series, pickup = stats.recent(now)
    figures: dict[str, Any] = {
        "now": now,
        "counts": {status: _shown(count) for status, count in counted.statuses.items()},
        "queues": _queues(counted.queues, workers),
        "due": {
            "count": _shown(counted.due),
            "oldest_id": oldest["id"] if oldest else None,
            "oldest_due_at": oldest["run_at"] if oldest else None,
            "oldest_age": (now - oldest["run_at"]).total_seconds() if oldest else None,
        },
        "per_minute": series,
        "last_hour": {name: sum(minute[name] for minute in series) for name in stats.COUNTERS},
        "pickup": pickup,
        "workers": workers,
        "schedules": schedules[:SCHEDULES],
        "failures": _failures(tasks),
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


def _queues(counted: dict[str, dict[str, Count]], workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Waiting and running tasks of each queue that has some or that a live worker takes,
    with the live workers that take it (a worker with no queues takes all)."""
    names = set(counted) | {name for worker in workers if worker["alive"] for name in worker["queues"]}
    every = sum(1 for worker in workers if worker["alive"] and not worker["queues"])
    return [
        {
            "queue": name,
            "waiting": _shown(counted.get(name, {}).get("WAITING", Count(0))),
            "running": _shown(counted.get(name, {}).get("RUNNING", Count(0))),
            "workers": every + sum(1 for worker in workers if worker["alive"] and name in worker["queues"]),
        }
        for name in sorted(names)
    ]


def _failures(tasks: QuerySet) -> list[dict[str, Any]]:
    """The FAILURES failed tasks due last: the claim index holds ERROR rows by priority,
    then due time, so the newest of each priority in use are read backwards from its end."""
    levels, failed = [], tasks.filter(status=ERROR)
    while True:  # the priorities in use among failed tasks: one lookup each
        rows = failed.filter(priority__lt=levels[-1]) if levels else failed
        level = rows.order_by("-priority").values_list("priority", flat=True).first()
        if level is None:
            break
        levels.append(level)
    found = []
    for level in levels:
        found += failed.filter(priority=level).order_by("-run_at").values(
            "id", "function", "exception_class", "run_at", "finished_at", message=Left("error_message", MESSAGE_CHARS)
        )[:FAILURES]
    return sorted(found, key=lambda row: row["run_at"], reverse=True)[:FAILURES]


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
                "heartbeat_age": max(0.0, (now - worker.heartbeat_at).total_seconds()),
                "alive": now - worker.heartbeat_at < lost_after,
                "tasks_done": worker.tasks_done,
                "queues": [name for name in worker.queues.split(",") if name],
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
