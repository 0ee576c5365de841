"""Schedules in words: "Mondays at 07:30", "every 5 minutes", "every 15 seconds".

Pure code, like ``cron.py``: nothing here reads the clock. A cron schedule is
described from its normalised standard cron string (what ``CronSchedule``
hands to croniter), so ``crontab="30 7 0 * *"`` and ``cron="30 7 * * 1"``
read the same: "Mondays at 07:30". Times are wall-clock times in the
schedule's own time zone. Where the words would be long or unsure (``L``,
``#``, irregular lists), ``describe`` lists the next due times instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cron import CronSchedule

__all__ = ["describe", "describe_cron", "describe_seconds"]

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")  # cron numbers, Sunday = 0
_MONDAY_FIRST = (1, 2, 3, 4, 5, 6, 0)
_MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_UNITS = ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
_MOST_TIMES = 6  # more times of day than this are not listed one by one
_MOST_RUNS = 3  # more separate hour ranges than this are not described


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted values as contiguous (first, last) runs: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _step(values: list[int]) -> int | None:
    """The common difference of sorted values (at least two), or None."""
    steps = {b - a for a, b in zip(values, values[1:])}
    return steps.pop() if len(steps) == 1 else None


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _hm(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _parse(field: str) -> list[int] | None:
    """``*`` -> None, ``1,5,7`` -> [1, 5, 7]; anything else (croniter syntax) raises ValueError."""
    return None if field == "*" else sorted(int(v) for v in field.split(","))


def _time_phrase(minutes: list[int] | None, hours: list[int] | None) -> str | None:
    """When in the day: "every 5 minutes", "at 07:30 and 19:30", "every 2 hours from 00:00 to 22:00"."""
    step = _step(minutes) if minutes and len(minutes) > 1 else None
    # Minutes evenly spaced across the whole hour (so the rhythm goes on across hours): 0,15,30,45 or 5,35.
    even = step is not None and minutes is not None and 60 % step == 0 and len(minutes) == 60 // step
    if hours is None:
        if minutes is None:
            return "every minute"
        if even and minutes[0] == 0:
            return f"every {step} minutes"
        if len(minutes) <= 4:
            return "every hour at " + _and([f":{m:02d}" for m in minutes])
        if step is not None:
            return f"every {step} minutes from :{minutes[0]:02d} to :{minutes[-1]:02d} of each hour"
        return None
    hour_runs = _runs(hours)
    if minutes is None:
        if len(hour_runs) > _MOST_RUNS:
            return None
        return "every minute " + _and([f"from {_hm(a, 0)} to {_hm(b, 59)}" for a, b in hour_runs])
    # A minute rhythm runs on from hour to hour only if it is even; inside single hours any rhythm
    # reads well, but two times in one hour read better listed ("at 09:05 and 09:35").
    single_hours = all(a == b for a, b in hour_runs)
    rhythm = (even and not single_hours) or (len(minutes) > 2 and (even or single_hours))
    if step is not None and rhythm and len(hour_runs) <= _MOST_RUNS:
        return f"every {step} minutes " + _and(
            [f"from {_hm(a, minutes[0])} to {_hm(b, minutes[-1])}" for a, b in hour_runs]
        )
    if len(minutes) * len(hours) <= _MOST_TIMES:
        return "at " + _and([_hm(h, m) for h in hours for m in minutes])
    hour_step = _step(hours)
    if len(minutes) == 1 and hour_step is not None:
        every = "every hour" if hour_step == 1 else f"every {hour_step} hours"
        return f"{every} from {_hm(hours[0], minutes[0])} to {_hm(hours[-1], minutes[0])}"
    return None


def _weekdays(days: list[int]) -> str:
    """Cron weekdays (Sunday = 0) Monday first: "Mondays", "Monday to Friday", "Saturdays and Sundays"."""
    positions = sorted(_MONDAY_FIRST.index(d) for d in days)
    parts = []
    for a, b in _runs(positions):
        first, last = _DAYS[_MONDAY_FIRST[a]], _DAYS[_MONDAY_FIRST[b]]
        if b - a >= 2:
            parts.append(f"{first} to {last}")
        else:
            parts.extend(_DAYS[_MONDAY_FIRST[p]] + "s" for p in range(a, b + 1))
    return _and(parts)


def _days_of_month(days: list[int]) -> str:
    """ "the 1st", "the 1st and 15th", "the 10th-15th"."""
    parts = []
    for a, b in _runs(days):
        if b - a >= 2:
            parts.append(f"{_ordinal(a)}-{_ordinal(b)}")
        else:
            parts.extend(_ordinal(d) for d in range(a, b + 1))
    return "the " + _and(parts)


def _months(months: list[int]) -> str:
    """ "in April and July", "from March to October"."""
    runs = _runs(months)
    if len(runs) == 1 and runs[0][1] - runs[0][0] >= 2:
        return f"from {_MONTHS[runs[0][0]]} to {_MONTHS[runs[0][1]]}"
    parts = []
    for a, b in runs:
        if b - a >= 2:
            parts.append(f"{_MONTHS[a]} to {_MONTHS[b]}")
        else:
            parts.extend(_MONTHS[m] for m in range(a, b + 1))
    return "in " + _and(parts)


def describe_cron(cron_string: str) -> str | None:
    """A normalised standard cron string in words, or None where words would not be clear.

    >>> describe_cron("30 7 * * 1")
    'Mondays at 07:30'
    >>> describe_cron("0 9 10,11,12,13,14,15 4,7 *")
    'at 09:00 on the 10th-15th in April and July'
    """
    fields = cron_string.split()
    if len(fields) != 5:
        return None
    try:
        minutes, hours, dom, months, dow = (_parse(field) for field in fields)
    except ValueError:  # L, #, ranges or steps that normalising kept: no words for those
        return None
    when = _time_phrase(minutes, hours)
    if when is None:
        return None
    fixed = when.startswith("at ")
    if dow is not None and dom is None:
        text = f"{_weekdays(dow)} {when}" if fixed else f"{_weekdays(dow)}, {when}"
    elif dom is not None:
        on = f"on {_weekdays(dow)} and on {_days_of_month(dom)}" if dow is not None else f"on {_days_of_month(dom)}"
        text = f"{when} {on}" + ("" if months is not None else " of each month")
    else:
        text = f"every day {when}" if fixed else when
    return text if months is None else f"{text} {_months(months)}"


def describe_seconds(seconds: float) -> str:
    """A periodic schedule's period in words: "every 15 seconds", "every 5 minutes", "every day"."""
    if seconds != int(seconds):
        return f"every {seconds:g} seconds"
    for size, unit in _UNITS:
        if seconds % size == 0:
            count = int(seconds) // size
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    raise ValueError(f"seconds must be positive, got {seconds!r}")  # pragma: no cover - 1 divides every int


def describe(schedule: CronSchedule, after: datetime, n: int = 3) -> str:
    """``schedule`` in words; where there are none, its next ``n`` due times after ``after``.

    The listed times are in the schedule's zone, with the weekday, so that a
    mistaken field order shows at once: "on Tue 2026-03-31 12:00 CEST, Thu 2026-04-30 12:00 CEST, ...".
    """
    words = describe_cron(schedule.cron_string)
    if words is not None:
        return words
    runs = schedule.next_runs(after, n)
    return "on " + ", ".join(run.strftime("%a %Y-%m-%d %H:%M %Z") for run in runs) + ", ..."
