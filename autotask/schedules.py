"""Periodic and cron schedules: the in-memory registry, the stored rows, the due times.

Decorators only register in memory (``register_*``). A worker, when it starts,
writes the rows (``sync``: an upsert under a unique constraint, never
check-then-insert). While it runs, ``claim_due`` turns each due time into one
task row: a compare-and-set on ``next_run_at`` lets exactly one worker win a
due time, and a unique key on (schedule, due time) backs it up.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable

from django.db import IntegrityError

from . import db, loader, schedule_options, timeutil
from .conf import conf
from .cron import CronSchedule, next_periodic_runs
from .cron_words import describe_seconds
from .retry import DEFAULT as DEFAULT_RETRY, RetryPolicy
from .schedule_options import DEFAULT as DEFAULT_RUN, RunOptions
from .task import UNFINISHED

logger = logging.getLogger(__name__)

PERIODIC = "periodic"
CRON = "cron"
RUN_FIELDS = ("timeout", "retries", "queue_name", "priority", "arguments")  # copied into each run, with the ttl


@dataclass(frozen=True)
class ScheduleSpec:
    """A registered schedule: a function, when it runs, and what its runs are stored with."""

    function: str
    kind: str
    seconds: float | None = None
    start_now: bool = False
    cron: CronSchedule | None = None
    retry_policy: RetryPolicy = DEFAULT_RETRY
    run: RunOptions = DEFAULT_RUN

    @property
    def expression(self) -> str:
        if self.cron is not None:
            return self.cron.expression
        return f"every {self.seconds:g} s" + (", first at start" if self.start_now else "")

    @property
    def tz_name(self) -> str:
        return self.cron.tz_name if self.cron is not None else ""

    @property
    def signature(self) -> str:
        """Changes exactly when the schedule's meaning changes: its timing, or its runs' options."""
        base = f"cron:{self.cron.signature()}" if self.cron is not None else f"periodic:{self.seconds!r}"
        return schedule_options.signature(base, self.run, self.retry_policy)

    @classmethod
    def from_signature(cls, function: str, signature: str) -> ScheduleSpec | None:
        """The schedule a stored ``signature`` stands for; None if it can't be read back."""
        kind, _, rest = schedule_options.timing(signature).partition(":")
        try:
            if kind == PERIODIC:
                return cls(function, PERIODIC, seconds=int(rest) if rest.isdigit() else float(rest))
            if kind == CRON:
                cron, _, zone = rest.rpartition(" tz=")
                return cls(function, CRON, cron=CronSchedule(cron=cron, timezone=zone))
        except ValueError:  # a signature cut at 255 characters, a zone this machine doesn't know
            pass
        return None

    def describe(self, after: dt.datetime | None = None) -> str:
        """In words: "every 15 seconds", "Mondays at 07:30"; else the next three due times after ``after`` (now)."""
        if self.cron is not None:
            return self.cron.describe(timeutil.aware(after or timeutil.now()))
        return describe_seconds(self.seconds or 0)

    def first_due(self, now: dt.datetime) -> dt.datetime:
        """The first due time of a schedule stored at ``now``."""
        if self.cron is not None:
            return self.cron.next_runs(now, 1)[0]
        return now if self.start_now else now + dt.timedelta(seconds=self.seconds or 0)

    def next_after(self, due: dt.datetime, after: dt.datetime | None = None) -> dt.datetime:
        """The due time that follows ``due`` (and is after ``after``, if given)."""
        after = max(due, after) if after is not None else due
        if self.cron is not None:
            return self.cron.next_runs(after, 1)[0]
        return next_periodic_runs(due, self.seconds or 0, after, 1)[0]


REGISTRY: dict[str, ScheduleSpec] = {}


def register_periodic(
    function: str, *, seconds: float, start_now: bool, run: RunOptions = DEFAULT_RUN,
    retry_policy: RetryPolicy = DEFAULT_RETRY,
) -> None:
    REGISTRY[function] = ScheduleSpec(
        function, PERIODIC, seconds=seconds, start_now=start_now, run=run, retry_policy=retry_policy
    )


def register_cron(
    function: str, schedule: CronSchedule, *, run: RunOptions = DEFAULT_RUN, retry_policy: RetryPolicy = DEFAULT_RETRY
) -> None:
    REGISTRY[function] = ScheduleSpec(function, CRON, cron=schedule, run=run, retry_policy=retry_policy)


def _schedule_model():
    from .models import Schedule

    return Schedule


def _is_registered(function: str) -> bool:
    """Whether ``function`` still exists with a schedule decorator (importing it registers it)."""
    if function not in REGISTRY:
        try:
            loader.resolve(function)
        except ImportError:
            return False
    return function in REGISTRY


def sync() -> None:
    """Store the registered schedules: insert new ones, update changed ones, retire gone ones.

    Safe when any number of processes run it at once.
    """
    Schedule = _schedule_model()
    using = db.alias()
    now = timeutil.aware(timeutil.now())
    specs = list(REGISTRY.values())

    def upsert() -> None:
        with db.write_transaction(using):
            Schedule.objects.using(using).bulk_create(
                [
                    Schedule(
                        function=s.function,
                        kind=s.kind,
                        expression=s.expression[:255],
                        timezone=s.tz_name,
                        signature=s.signature,
                        next_run_at=timeutil.to_db(s.first_due(now)),
                        **s.run.row_fields(),
                    )
                    for s in specs
                ],
                ignore_conflicts=True,
            )
            for s in specs:
                rows = Schedule.objects.using(using).filter(function=s.function)
                changed = rows.exclude(signature=s.signature).update(
                    kind=s.kind,
                    expression=s.expression[:255],
                    timezone=s.tz_name,
                    signature=s.signature,
                    next_run_at=timeutil.to_db(s.first_due(now)),
                    active=True,
                    **s.run.row_fields(),
                )
                if changed:
                    logger.info("schedule changed function=%s expression=%r", s.function, s.expression)
                rows.filter(active=False).update(active=True)

    db.retry_locked(upsert, "schedule sync")
    for function in Schedule.objects.using(using).filter(active=True).values_list("function", flat=True):
        if not _is_registered(function):
            deactivate(function, "its function no longer exists")


def deactivate(function: str, why: str) -> None:
    logger.warning("schedule stopped function=%s reason=%r", function, why)
    _schedule_model().objects.using(db.alias()).filter(function=function).update(
        active=False, last_error=f"stopped: {why}"
    )


def _latest_run_unfinished(schedule_id: int) -> bool:
    from .models import Task

    last = Task.objects.using(db.alias()).filter(schedule_id=schedule_id).order_by("-due_at").values("status").first()
    return last is not None and last["status"] in UNFINISHED


def claim_due(now: dt.datetime) -> tuple[int, bool]:
    """Turn every due time that has come into a task row, once across all workers.

    Returns (runs created, whether a due schedule waits for its previous run).
    A due time that comes while the previous run is unfinished waits for it
    (runs never overlap). Missed due times coalesce: however many due times
    have passed when a schedule's run is made (downtime, a busy worker, a long
    previous run), it runs once, and its next due time is its first after
    ``now`` on its own grid (a periodic schedule keeps its phase). A paused
    schedule (``operations.pause_schedules``) is skipped; ``sync()`` never unpauses one.
    """
    from .models import Task

    Schedule = _schedule_model()
    using = db.alias()
    created, waiting = 0, False
    aware_now = timeutil.aware(now)
    due_rows = Schedule.objects.using(using).filter(active=True, paused=False, next_run_at__lte=now)
    for row in due_rows.values("id", "function", "next_run_at", "ttl", *RUN_FIELDS):
        spec = REGISTRY.get(row["function"])
        if spec is None:
            if not _is_registered(row["function"]):
                deactivate(row["function"], "its function no longer exists")
            continue  # registered by other workers' code, not by this one's: leave it to them
        if _latest_run_unfinished(row["id"]):
            waiting = True
            continue
        due = timeutil.aware(row["next_run_at"])
        following = spec.next_after(due, aware_now)
        if spec.next_after(due) < following:
            logger.info("schedule missed due times function=%s due=%s next=%s: runs once", row["function"], due, following)
        created += _claim_one(Task, Schedule, row, following, now)
    return created, waiting


def _claim_one(Task: Any, Schedule: Any, row: dict[str, Any], following: dt.datetime, now: dt.datetime) -> int:
    using = db.alias()

    def attempt() -> int:
        with db.write_transaction(using):
            won = Schedule.objects.using(using).filter(pk=row["id"], next_run_at=row["next_run_at"]).update(
                next_run_at=timeutil.to_db(following)
            )
            if won:
                Task.objects.using(using).create(
                    function=row["function"],
                    run_at=row["next_run_at"],
                    due_at=row["next_run_at"],
                    schedule_id=row["id"],
                    created_at=now,
                    **{name: row[name] for name in RUN_FIELDS},
                    ttl=int(conf.SCHEDULE_RUN_TTL) if row["ttl"] is None else row["ttl"],
                )
            return won

    try:
        return db.retry_locked(attempt, "schedule claim")
    except IntegrityError:
        # A run for this due time exists already: only move the schedule on.
        Schedule.objects.using(using).filter(pk=row["id"], next_run_at=row["next_run_at"]).update(
            next_run_at=timeutil.to_db(following)
        )
        return 0


def first_due_after(function: str, stored: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The first due time after ``now`` of a schedule whose stored next due time is
    ``stored`` (for one that resumes after a pause: no catch-up). A periodic schedule
    stays on its fixed-rate grid. None if ``function`` is no registered schedule."""
    if stored is not None and stored > now:
        return stored
    if not _is_registered(function):
        return None
    spec = REGISTRY[function]
    return spec.next_after(stored, now) if stored is not None else spec.first_due(now)


def next_due_time() -> dt.datetime | None:
    return (
        _schedule_model()
        .objects.using(db.alias())
        .filter(active=True, paused=False, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


def next_runs(function: Callable[..., Any] | str, n: int = 1, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``n`` due times of a registered ``@periodic_task`` or ``@cron_task``.

    A stored periodic schedule continues from its stored next due time.
    """
    from .loader import dotted_path

    path = function if isinstance(function, str) else dotted_path(function)
    if path not in REGISTRY and not _is_registered(path):
        raise LookupError(f"{path} is not a registered @periodic_task or @cron_task")
    spec = REGISTRY[path]
    after = timeutil.aware(after or timeutil.now())
    if spec.cron is not None:
        return spec.cron.next_runs(after, n)
    stored = _schedule_model().objects.using(db.alias()).filter(function=path, signature=spec.signature)
    first = stored.values_list("next_run_at", flat=True).first()
    first = timeutil.aware(first) if first else spec.first_due(after)
    if first > after:
        return [first] + next_periodic_runs(first, spec.seconds or 0, first, n - 1) if n > 1 else [first]
    return next_periodic_runs(first, spec.seconds or 0, after, n)
