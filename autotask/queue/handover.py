"""Rows handed to another engine (Celery): which to hand over, and marking them handed over.

A row handed over is QUEUED: still waiting to start, but no longer WAITING,
so that the claim index (``status``, ``-priority``, ``run_at``) finds only
rows not handed over yet, and a dispatcher takes a handed-over row again only
when its message seems lost (``unstarted``: long due, not started, its Celery
queue empty). The message goes out first, then the row is marked: a process that
dies in between leaves the row WAITING, and a dispatcher sends it again (a
second message, never a second run: the run's claim, by id, takes the row
once, ``execution.by_id``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from django.db import connections

from .. import db, timeutil
from ..task import QUEUED, WAITING
from .sql import models

FIELDS = ("id", "run_at", "queue_name", "priority")


def waiting(task_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Of ``task_ids``, the rows still WAITING (not started, not handed over): their FIELDS."""
    return list(models().Task.objects.using(db.alias()).filter(pk__in=task_ids, status=WAITING).values(*FIELDS))


def due(limit: int, grace: float) -> list[dict[str, Any]]:
    """Up to ``limit`` WAITING rows that are due, in claim order: the ones whose hand-over
    failed (the broker was down), that were kept back (due too late for an ETA), or that
    became WAITING again without one (recovered from a lost worker, run again from the
    admin). Rows stored in the last ``grace`` seconds are left to the process that stored them."""
    now = timeutil.now()
    rows = models().Task.objects.using(db.alias()).due(now)
    if grace:
        rows = rows.filter(created_at__lte=now - dt.timedelta(seconds=grace))
    return list(rows.values(*FIELDS)[:limit])


def unstarted(limit: int, after: float) -> list[dict[str, Any]]:
    """Up to ``limit`` QUEUED rows that were due and handed over more than ``after`` seconds
    ago and have not started: their message is late, or lost (a broker that lost its
    messages, or its routing: a Redis without persistence, restarted)."""
    cutoff = timeutil.now() - dt.timedelta(seconds=after)
    rows = models().Task.objects.using(db.alias()).filter(status=QUEUED, run_at__lte=cutoff, handed_over_at__lte=cutoff)
    return list(rows.order_by("-priority", "run_at").values(*FIELDS)[:limit])


def mark_queued(task_ids: Sequence[uuid.UUID]) -> int:
    """Mark rows whose message was sent QUEUED, with the time (those still WAITING, or QUEUED
    and sent again; a row a worker took already stays as it is)."""
    if not task_ids:
        return 0
    using = db.alias()

    connection = connections[using]

    def attempt() -> int:
        with db.write_transaction(using):
            if connection.vendor == "postgresql":
                # A mark lost in a crash costs a second message (which runs nothing), never a
                # run: no need to wait for the disk (a third of an enqueue's time otherwise).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            return (
                models().Task.objects.using(using).filter(pk__in=task_ids, status__in=(WAITING, QUEUED))
                .update(status=QUEUED, handed_over_at=timeutil.now())
            )

    return db.retry_locked(attempt, "hand over")
