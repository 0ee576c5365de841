"""Per-minute run figures for the dashboard, counted by each worker in memory.

The task table holds no history cheap enough to read: counting last hour's
finished runs, or the pickup delays of the last 15 minutes, would scan or
index a million rows, and an index more on the task table costs every insert
and every status change. So each worker counts what it records
(``record``: a few dict updates per run, under a lock) and writes its counts
once per heartbeat (``flush``: one upsert of a row per minute touched into
``MinuteStats``). The dashboard sums a few rows (workers x minutes).

Each row holds the worker's totals for that minute so far, so writing it
again is harmless (a failed flush is simply retried on the next heartbeat).
Counts of the last seconds before a worker is killed are lost with it.

Pickup delays (start minus due time) are kept as histograms of buckets four
to a doubling (each about 19% wide), from 0.1 ms up to days; percentiles
are read from the merged histograms, to within a bucket's width. Of a batch
of quick runs recorded together, up to PICKUP_SAMPLE delays are measured
(the runs of a batch were claimed together and waited alike).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Sequence

from django.db import DatabaseError, connections

from . import db, timeutil
from .task import CANCELLED, DONE, ERROR, WAITING

if TYPE_CHECKING:
    from .queue import Outcome

logger = logging.getLogger(__name__)

SMALLEST = 0.0001  # seconds: bucket 0 holds every delay up to this
PER_DOUBLING = 4
LAST_BUCKET = 160  # 0.1 ms * 2**40: more than a year
KEEP = dt.timedelta(hours=2)  # rows older than this are removed
CLEAN_EVERY = 600.0  # seconds between a worker's removals of old rows
COUNTERS = ("done", "failed", "retried", "cancelled")
PICKUP_SAMPLE = 8  # pickup delays measured per batch of runs, at most


# -- histogram buckets ---------------------------------------------------------------


def bucket(seconds: float) -> int:
    """The bucket of a delay: 0 up to SMALLEST, then PER_DOUBLING buckets to a doubling."""
    if seconds <= SMALLEST:
        return 0
    return min(LAST_BUCKET, 1 + int(math.log2(seconds / SMALLEST) * PER_DOUBLING))


def bucket_bounds(index: int) -> tuple[float, float]:
    """The delays (seconds) bucket ``index`` holds: from the first, up to the second."""
    if index == 0:
        return 0.0, SMALLEST
    return SMALLEST * 2 ** ((index - 1) / PER_DOUBLING), SMALLEST * 2 ** (index / PER_DOUBLING)


def percentile(histogram: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of the delays in ``histogram``, in seconds; None if empty.
    Within a bucket the delays are taken as spread evenly on a log scale."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for index in sorted(histogram):
        count = histogram[index]
        if seen + count >= rank:
            low, high = bucket_bounds(index)
            share = (rank - seen) / count
            return high * share if index == 0 else low * (high / low) ** share
        seen += count
    return bucket_bounds(max(histogram))[1]


# -- the worker's side -------------------------------------------------------------------


class _Minute:
    __slots__ = ("done", "failed", "retried", "cancelled", "pickup")

    def __init__(self) -> None:
        self.done = self.failed = self.retried = self.cancelled = 0
        self.pickup: dict[int, int] = {}


_lock = threading.Lock()
_minutes: dict[dt.datetime, _Minute] = {}
_unwritten: set[dt.datetime] = set()
_next_clean = 0.0


def _minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def record(runs: Sequence[tuple[dict[str, Any], Outcome]], held: Sequence[bool]) -> None:
    """Count the runs a worker just recorded (``held``: whether each outcome was kept).

    This is on the worker's path of every run, so it does little per run: of a batch of
    quick runs only up to PICKUP_SAMPLE pickup delays are measured, each standing for its
    share of the batch; the minute is when the batch's last run ended.
    """
    kept = [run for run, was_held in zip(runs, held) if was_held] if False in held else runs
    if not kept:
        return
    done = failed = cancelled = retried = 0
    for _, outcome in kept:
        status = outcome.status
        if status == DONE:
            done += 1
        elif status == ERROR:
            failed += 1
        elif status == CANCELLED:
            cancelled += 1
        elif status == WAITING and not outcome.attempts_delta:  # failed, to run again
            retried += 1
    step = -(-len(kept) // PICKUP_SAMPLE)  # ceil: each measured delay stands for ``step`` runs
    delays = [bucket((task["started_at"] - task["run_at"]).total_seconds()) for task, _ in kept[::step]]
    minute = _minute_of(kept[-1][0].get("finished_at") or timeutil.now())
    with _lock:
        counts = _minutes.get(minute)
        if counts is None:
            counts = _minutes[minute] = _Minute()
        counts.done += done
        counts.failed += failed
        counts.cancelled += cancelled
        counts.retried += retried
        weights = [step] * len(delays)
        weights[-1] = len(kept) - step * (len(delays) - 1)  # the last measured run stands for the rest
        for index, weight in zip(delays, weights):
            counts.pickup[index] = counts.pickup.get(index, 0) + weight
        _unwritten.add(minute)


def flush(worker_id: Any) -> None:
    """Write this worker's counts of the minutes changed since the last flush; never raises."""
    global _next_clean
    from .models import MinuteStats

    with _lock:
        rows = [
            MinuteStats(
                minute=minute, worker_id=worker_id, pickup=json.dumps(_minutes[minute].pickup),
                **{name: getattr(_minutes[minute], name) for name in COUNTERS},
            )
            for minute in sorted(_unwritten)
        ]
        written = set(_unwritten)
        _unwritten.clear()
        current = _minute_of(timeutil.now())
        for minute in [m for m in _minutes if m < current - dt.timedelta(minutes=1) and m not in written]:
            del _minutes[minute]  # written already, and no run is counted in it any more
    if not rows:
        return
    using = db.alias()
    try:
        db.retry_locked(lambda: _upsert(using, rows), "stats flush")
        if time.monotonic() >= _next_clean:
            _next_clean = time.monotonic() + CLEAN_EVERY
            cutoff = timeutil.now() - KEEP
            db.retry_locked(lambda: MinuteStats.objects.using(using).filter(minute__lt=cutoff).delete(), "stats clean")
    except DatabaseError as exc:
        logger.warning("can't write the run figures (%s); trying again on the next heartbeat", exc)
        with _lock:
            _unwritten.update(written)


def _upsert(using: str, rows: list[Any]) -> None:
    from .models import MinuteStats

    target = ["minute", "worker_id"] if connections[using].features.supports_update_conflicts_with_target else None
    with db.write_transaction(using):
        MinuteStats.objects.using(using).bulk_create(
            rows, update_conflicts=True, unique_fields=target, update_fields=[*COUNTERS, "pickup"]
        )


# -- the dashboard's side ----------------------------------------------------------------


def recent(now: dt.datetime, minutes: int = 60, pickup_minutes: int = 15) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """From one read of the rows of the last ``minutes`` minutes: the runs done, failed,
    retried and cancelled in each minute (the current one last), summed over the workers;
    and the pickup delay percentiles (seconds) over the last ``pickup_minutes``."""
    from .models import MinuteStats

    end = _minute_of(now)
    start, pickup_start = (end - dt.timedelta(minutes=n - 1) for n in (minutes, pickup_minutes))
    sums: dict[dt.datetime, dict[str, int]] = {}
    merged: dict[int, int] = {}
    for row in MinuteStats.objects.using(db.alias()).filter(minute__gte=start).values("minute", "pickup", *COUNTERS):
        total = sums.setdefault(row["minute"], dict.fromkeys(COUNTERS, 0))
        for name in COUNTERS:
            total[name] += row[name]
        if row["minute"] >= pickup_start:
            for index, count in json.loads(row["pickup"] or "{}").items():
                merged[int(index)] = merged.get(int(index), 0) + count
    series = []
    for step in range(minutes):
        minute = start + dt.timedelta(minutes=step)
        series.append({"minute": minute, **sums.get(minute, dict.fromkeys(COUNTERS, 0))})
    pickup = {"runs": sum(merged.values()), "p50": percentile(merged, 0.50), "p95": percentile(merged, 0.95)}
    return series, pickup
