"""How many tasks there are, by status and by queue, quickly at any size of the table.

A COUNT over a million rows reads a million index entries (100-500 ms), longer
than the dashboard may take, and an index more on the task table would cost
every enqueue and every status change. So each status, and the due waiting
tasks, are counted up to ``COUNT_CAP`` + 1: a range of the claim index
(status, -priority, run_at), read no further, all in one statement. Above the
cap a count is PostgreSQL's or MySQL's planner estimate (an EXPLAIN, which
reads only the table's statistics), or on SQLite, which keeps none of the
kind, a lower bound. Waiting and running tasks by queue: the first
``QUEUE_SAMPLE`` of them in claim order are read (rows, not only index
entries): exact while that is all of them, else each queue's share of the
rows read, of the status's count.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Count as Rows, QuerySet

from .task import CANCELLED, DONE, ERROR, QUEUED, RUNNING, WAITING

# QUEUED (handed to Celery, not started) is counted as WAITING (``_folded``).
STATUSES = (WAITING, RUNNING, DONE, ERROR, CANCELLED, QUEUED)
BY_QUEUE = (WAITING, RUNNING)  # the statuses counted by queue too
COUNT_CAP = 10_000  # rows of one status counted exactly, at most
QUEUE_SAMPLE = 1_000  # waiting (and running) tasks read for their queues, at most


@dataclass(frozen=True)
class Count:
    """A number of rows: ``exact``, or an estimate (``approx``), or a lower bound (``at_least``)."""

    value: int
    kind: str = "exact"  # exact | approx | at_least

    def __str__(self) -> str:
        text = f"{self.value:,}"
        return {"approx": f"≈{text}", "at_least": f"{text}+"}.get(self.kind, text)


@dataclass
class Counts:
    statuses: dict[str, Count]
    due: Count  # waiting tasks whose time has come
    oldest_due: dict[str, Any] | None  # id and run_at of the due task that has waited longest
    queues: dict[str, dict[str, Count]] = field(default_factory=dict)  # queue -> WAITING/RUNNING -> count


def _models():
    from . import models

    return models


def count_tasks(using: str, now: dt.datetime, exact: bool = False) -> Counts:
    """Tasks by status and queue, the due ones, and the oldest due one.

    ``exact``: count every row instead (reads the whole table: for a person who asks)."""
    tasks = _models().Task.objects.using(using)
    heads = _waiting_heads(tasks)
    due_heads = [head for head in heads if head["run_at"] <= now]
    oldest = min(due_heads, key=lambda head: head["run_at"]) if due_heads else None
    if exact:
        return _exact(tasks, now, oldest)
    found = _capped(using, now, [head["priority"] for head in due_heads])
    statuses = {}
    for status in STATUSES:
        read = sum(found[status].values())
        statuses[status] = Count(read) if read <= COUNT_CAP else None
    over = [status for status, count in statuses.items() if count is None]
    estimates = _planner_estimates(using, over) if over and connections[using].vendor != "sqlite" else {}
    for status in over:
        estimate = estimates.get(status, 0)
        statuses[status] = Count(estimate, "approx") if estimate > COUNT_CAP else Count(COUNT_CAP, "at_least")
    queues: dict[str, dict[str, Count]] = {}
    for status in BY_QUEUE:
        sample, total = found[f"{status} by queue"], statuses[status]
        read = sum(sample.values())
        for queue_name, rows in sample.items():
            if read == total.value and total.kind == "exact":  # the sample holds them all
                count = Count(rows)
            else:  # this queue's share of the rows read, of the status's count
                count = Count(round(rows * total.value / read), "approx" if total.kind != "at_least" else "at_least")
            queues.setdefault(queue_name, {})[status] = count
    due = sum(found["due"].values())
    return Counts(_folded(statuses), Count(due) if due <= COUNT_CAP else Count(COUNT_CAP, "at_least"), oldest, queues)


def _folded(statuses: dict[str, Count]) -> dict[str, Count]:
    """QUEUED rows counted as WAITING: to whoever looks, they wait."""
    queued = statuses.pop(QUEUED, None)
    if queued is not None and queued.value:
        waiting = statuses[WAITING]
        kinds = {waiting.kind, queued.kind}
        kind = "at_least" if "at_least" in kinds else "approx" if "approx" in kinds else "exact"
        statuses[WAITING] = Count(waiting.value + queued.value, kind)
    return statuses


def _exact(tasks: QuerySet, now: dt.datetime, oldest: dict[str, Any] | None) -> Counts:
    rows = tasks.order_by().values_list("status", "queue_name").annotate(rows=Rows("pk"))
    statuses = dict.fromkeys(STATUSES, 0)
    queues: dict[str, dict[str, Count]] = {}
    for status, queue_name, count in rows:
        statuses[status] = statuses.get(status, 0) + count
        if status in BY_QUEUE:
            queues.setdefault(queue_name, {})[status] = Count(count)
    due = tasks.filter(status=WAITING, run_at__lte=now).count()
    return Counts(_folded({s: Count(n) for s, n in statuses.items()}), Count(due), oldest, queues)


def _waiting_heads(tasks: QuerySet) -> list[dict[str, Any]]:
    """The first waiting task of each priority present: its earliest (id, priority, run_at).

    The claim index is ordered by priority, then due time: one lookup per priority
    in use (usually one or two), never a scan (as ``queue.next_due_time``)."""
    heads: list[dict[str, Any]] = []
    waiting = tasks.filter(status=WAITING)
    while True:
        rows = waiting.filter(priority__lt=heads[-1]["priority"]) if heads else waiting
        head = rows.order_by("-priority", "run_at").values("id", "priority", "run_at").first()
        if head is None:
            return heads
        heads.append(head)


def _capped(using: str, now: dt.datetime, due_priorities: list[int]) -> dict[str, dict[Any, int]]:
    """In one statement: the rows of each status read up to COUNT_CAP + 1 (the index alone);
    the first QUEUE_SAMPLE waiting and running ones in claim order, by queue (these read the
    rows too); and the due waiting rows of each priority that has some."""
    connection = connections[using]
    meta = _models().Task._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    status, queue, priority, run_at = (
        quote(meta.get_field(name).column) for name in ("status", "queue_name", "priority", "run_at")
    )
    limit = COUNT_CAP + 1
    parts: list[str] = []
    params: list[Any] = []
    labels: list[str] = []
    for name in BY_QUEUE:  # first: the queue column gives the union its type
        parts.append(
            f"SELECT {len(parts)}, q, COUNT(*) FROM (SELECT {queue} AS q FROM {table} WHERE {status} = %s "
            f"ORDER BY {priority} DESC, {run_at} LIMIT %s) c{len(parts)} GROUP BY q"
        )
        params += [name, QUEUE_SAMPLE]
        labels.append(f"{name} by queue")
    for name in STATUSES:
        parts.append(
            f"SELECT {len(parts)}, NULL, COUNT(*) FROM (SELECT 1 AS one FROM {table} WHERE {status} = %s LIMIT %s) "
            f"c{len(parts)}"
        )
        params += [name, limit]
        labels.append(name)
    for level in due_priorities:
        parts.append(
            f"SELECT {len(parts)}, NULL, COUNT(*) FROM (SELECT 1 AS one FROM {table} WHERE {status} = %s "
            f"AND {priority} = %s AND {run_at} <= %s LIMIT %s) c{len(parts)}"
        )
        params += [WAITING, level, connection.ops.adapt_datetimefield_value(now), limit]
        labels.append("due")
    found: dict[str, dict[Any, int]] = {label: {} for label in (*labels, "due")}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for index, queue_name, count in cursor.fetchall():
            if count:
                key = queue_name if labels[index].endswith("by queue") else index
                found[labels[index]][key] = found[labels[index]].get(key, 0) + count
    return found


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
