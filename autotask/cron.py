"""Cron and fixed-rate schedules for autotask.

Pure code: nothing here reads the clock; callers pass ``after``. Every accepted
form is normalised to a standard five-field cron string with explicit values,
croniter iterates *naive* local wall-clock times (it has DST bugs with aware
datetimes) and this module maps wall times to real instants itself:

* "frequent" schedules (hour field = every hour) follow real time: a wall time
  that occurs twice runs twice, a wall time inside a spring-forward gap is skipped;
* other schedules run a repeated wall time once (first occurrence) and a
  non-existent wall time once, at the first instant after the gap.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone as dt_timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

__all__ = ["CronSchedule", "next_periodic_runs"]

_UTC = dt_timezone.utc
# Upper bound for the size of a DST fold/gap; also the lookahead/lookbehind window.
_FOLD_WINDOW = timedelta(hours=3)
# Bound on the minute-by-minute search for the end of a gap (Samoa skipped a whole day).
_GAP_SEARCH_MINUTES = 2 * 24 * 60
# autotask 0.5's crontab field order (Monday = 0 for dow) with allowed ranges.
_CRONTAB_FIELDS = (("minutes", 0, 59), ("hours", 0, 23), ("dow", 0, 6), ("months", 1, 12), ("dom", 1, 31))
_RANGES = {name: (lo, hi) for name, lo, hi in _CRONTAB_FIELDS}
_MAX_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}  # fmt: skip
_CRONTAB_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
# "a-a" (optionally with a step) means just "a"; croniter reads "9-9" as "*".
_SAME_RANGE = re.compile(r"(?<![\w-])(\d+)-\1(?:/\d+)?(?![\w-])")
# croniter's random (R) and hashed (H) extensions would make the schedule unstable.
_RANDOM_TOKEN = re.compile(r"(?<![a-z])[rh](?![a-z])")


def _dow_note(name: str) -> str:
    return " (Monday = 0)" if name == "dow" else ""


def _parse_crontab_field(name: str, text: str) -> frozenset[int] | None:
    """Parse one field of a ``crontab=`` string; ``None`` means ``*`` (every value)."""
    lo, hi = _RANGES[name]
    if text == "*":
        return None
    values: set[int] = set()
    for item in text.split(","):
        match = _CRONTAB_ITEM.match(item)
        if not match:
            raise ValueError(
                f"crontab field '{name}' has {item!r}, expected '*', a number, a range a-b "
                f"or a comma list of those, values {lo}-{hi}{_dow_note(name)} "
                "(for steps, names and the standard field order, use cron= instead)"
            )
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        for value in (start, end):
            if not lo <= value <= hi:
                raise ValueError(f"crontab field '{name}' has {value}, expected {lo}-{hi}{_dow_note(name)}")
        if start > end:
            raise ValueError(f"crontab field '{name}' has reversed range {item}, expected start <= end")
        values.update(range(start, end + 1))
    return frozenset(values)


def _check_keyword(name: str, values: Iterable[int] | int | None) -> frozenset[int] | None:
    """Validate one keyword list argument; ``None`` means every value."""
    if values is None:
        return None
    lo, hi = _RANGES[name]
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"argument '{name}' has {values!r}, expected a list of integers {lo}-{hi}")
    result: set[int] = set()
    for value in values:
        # bool is an int subclass but True/False as a minute is surely a mistake.
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"argument '{name}' has {value!r}, expected integers {lo}-{hi}{_dow_note(name)}")
        if not lo <= value <= hi:
            raise ValueError(f"argument '{name}' has {value}, expected {lo}-{hi}{_dow_note(name)}")
        result.add(value)
    if not result:
        raise ValueError(f"argument '{name}' is empty, expected at least one value {lo}-{hi}")
    return frozenset(result)


def _join(values: frozenset[int] | None, size: int) -> str:
    if values is None or len(values) == size:
        return "*"
    return ",".join(str(v) for v in sorted(values))


def _canonical(
    minutes: frozenset[int] | None,
    hours: frozenset[int] | None,
    dom: frozenset[int] | None,
    months: frozenset[int] | None,
    cron_dow: frozenset[int] | None,
) -> str:
    """Build the normalised standard cron string (dow Sunday = 0) from value sets."""
    if dom is not None and cron_dow is not None and (len(dom) == 31 or len(cron_dow) == 7):
        # Both given means OR; if either side is every day, every day matches.
        dom = cron_dow = None
    if dom is not None and cron_dow is None:
        month_set = months if months is not None else range(1, 13)
        if not any(day <= _MAX_DAYS[m] for day in dom for m in month_set):
            raise ValueError(
                f"dom {sorted(dom)} never occurs in months {sorted(month_set)}: the schedule would never run"
            )
    return " ".join(
        (_join(minutes, 60), _join(hours, 24), _join(dom, 31), _join(months, 12), _join(cron_dow, 7))
    )


def _resolve_tz(timezone: str | tzinfo | None) -> tzinfo:
    """Resolve the ``timezone`` argument (see :class:`CronSchedule`)."""
    if timezone is None:
        try:
            from django.conf import settings
            from django.core.exceptions import ImproperlyConfigured

            try:
                timezone = settings.TIME_ZONE or "UTC"
            except ImproperlyConfigured:
                timezone = "UTC"
        except ImportError:  # pragma: no cover - Django is a hard dependency
            timezone = "UTC"
    if isinstance(timezone, tzinfo):
        zone = getattr(timezone, "zone", None)  # pytz zones; ZoneInfo has no .zone
        if isinstance(zone, str) and not isinstance(timezone, ZoneInfo):
            timezone = zone
        else:
            return timezone
    if not isinstance(timezone, str):
        raise ValueError(f"timezone {timezone!r} is not a tzinfo or an IANA zone name")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"unknown timezone {timezone!r}, expected an IANA name like 'Europe/Berlin'") from None


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    """Local naive wall-clock time of an aware instant."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _offset(instant: datetime, tz: tzinfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


class CronSchedule:
    """A cron schedule in a time zone.

    Give either keyword lists (``minutes`` 0-59, ``hours`` 0-23, ``dow`` 0-6 with
    Monday = 0, ``months`` 1-12, ``dom`` 1-31; ``None`` = every value; dom and dow
    both given match if either matches), or ``crontab`` in autotask 0.5's order
    ``"minutes hours dow months dom"`` (Monday = 0; ``*``, numbers, ``a-b``,
    comma lists), or ``cron``: a standard expression as croniter reads it.
    ``timezone``: ``None`` (settings.TIME_ZONE, else UTC), an IANA name or a tzinfo.
    All invalid input raises ``ValueError``.
    """

    def __init__(
        self,
        minutes: Iterable[int] | int | None = None,
        hours: Iterable[int] | int | None = None,
        dow: Iterable[int] | int | None = None,
        months: Iterable[int] | int | None = None,
        dom: Iterable[int] | int | None = None,
        crontab: str | None = None,
        cron: str | None = None,
        timezone: str | tzinfo | None = None,
    ) -> None:
        if crontab is not None and cron is not None:
            raise ValueError(
                "give either crontab= (autotask 0.5's order: minutes hours dow months dom) "
                "or cron= (standard order: minute hour dom month dow), not both"
            )
        if cron is not None:
            self._expression = f"cron {cron!r}"
            self._cron, self._frequent = self._from_cron(cron)
        else:
            if crontab is not None:
                if not isinstance(crontab, str):
                    raise ValueError(f"crontab {crontab!r} is not a string")
                fields = crontab.split()
                if len(fields) != 5:
                    raise ValueError(
                        f"crontab {crontab!r} has {len(fields)} fields, expected 5: minutes hours dow months dom"
                    )
                parsed = {name: _parse_crontab_field(name, text) for (name, _, _), text in zip(_CRONTAB_FIELDS, fields)}
                self._expression = f"crontab {crontab.strip()!r}"
            else:
                given = {"minutes": minutes, "hours": hours, "dow": dow, "months": months, "dom": dom}
                parsed = {name: _check_keyword(name, value) for name, value in given.items()}
                shown = [f"{name}={sorted(values)}" for name, values in parsed.items() if values is not None]
                self._expression = " ".join(shown) or "every minute"
            dow_monday_0 = parsed["dow"]
            cron_dow = None if dow_monday_0 is None else frozenset((d + 1) % 7 for d in dow_monday_0)
            self._cron = _canonical(parsed["minutes"], parsed["hours"], parsed["dom"], parsed["months"], cron_dow)
            self._frequent = self._cron.split()[1] == "*"
        self._tz = _resolve_tz(timezone)

    @staticmethod
    def _from_cron(cron: str) -> tuple[str, bool]:
        """Validate and normalise a standard cron string; return (cron string, frequent)."""
        if not isinstance(cron, str):
            raise ValueError(f"cron expression {cron!r} is not a string")
        text = " ".join(cron.lower().split())
        if text.startswith("@"):
            if text not in _ALIASES:
                raise ValueError(f"cron expression {cron!r} uses unknown alias, expected one of {sorted(_ALIASES)}")
            text = _ALIASES[text]
        fields = text.split(" ")
        if len(fields) != 5:
            raise ValueError(
                f"cron expression {cron!r} has {len(fields)} fields, "
                "expected 5: minute hour day-of-month month day-of-week"
            )
        if _RANDOM_TOKEN.search(text):
            raise ValueError(f"cron expression {cron!r} uses random/hashed values (R/H), which are not supported")
        text = _SAME_RANGE.sub(r"\1", text)
        try:
            parser = croniter(text, datetime(2000, 1, 1))
        except Exception as exc:  # croniter raises assorted errors for bad input
            raise ValueError(f"invalid cron expression {cron!r}: {exc}") from None
        expanded = parser.expanded
        frequent = expanded[1] == ["*"] or len(set(expanded[1])) == 24
        plain = all(isinstance(v, int) or v == "*" for field in expanded for v in field)
        if not plain or getattr(parser, "nth_weekday_of_month", None):
            # L / # features: no explicit-list form exists, keep croniter's own syntax.
            try:
                parser.get_next(datetime)
            except CroniterBadDateError:
                raise ValueError(f"cron expression {cron!r} never matches a date") from None
            return text, frequent

        sets = [None if field == ["*"] else frozenset(int(v) for v in field) for field in expanded]
        if sets[4] is not None:
            sets[4] = frozenset(v % 7 for v in sets[4])  # 7 is Sunday too
        normalised = _canonical(*sets)
        return normalised, normalised.split()[1] == "*"

    @property
    def expression(self) -> str:
        """Human-readable form of the schedule as it was given."""
        return self._expression

    @property
    def cron_string(self) -> str:
        """The normalised standard cron string (Sunday = 0) handed to croniter."""
        return self._cron

    @property
    def tz(self) -> tzinfo:
        """The resolved time zone."""
        return self._tz

    @property
    def tz_name(self) -> str:
        """Name of the time zone, e.g. ``"Europe/Berlin"`` or ``"UTC"``."""
        key = getattr(self._tz, "key", None)
        if isinstance(key, str):
            return key
        try:
            name = self._tz.tzname(None)
        except Exception:
            name = None
        return name or str(self._tz)

    def describe(self, after: datetime) -> str:
        """The schedule in words ("Mondays at 07:30"), else its next three due times after ``after``."""
        from .cron_words import describe

        return describe(self, after)

    def signature(self) -> str:
        """Stable string that changes iff the schedule's meaning changes."""
        return f"{self._cron} tz={self.tz_name}"

    def __repr__(self) -> str:
        return f"CronSchedule({self._expression}, tz={self.tz_name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return self.signature() == other.signature()

    def __hash__(self) -> int:
        return hash(self.signature())

    def _instants(self, wall: datetime) -> list[datetime]:
        """Map a naive wall time to the UTC instants at which it is due."""
        tz = self._tz
        first = wall.replace(tzinfo=tz, fold=0).astimezone(_UTC)
        if _wall(first, tz) != wall:  # does not exist: inside a spring-forward gap
            if self._frequent:
                return []
            probe = wall
            for _ in range(_GAP_SEARCH_MINUTES):
                probe += timedelta(minutes=1)
                instant = probe.replace(tzinfo=tz).astimezone(_UTC)
                if _wall(instant, tz) == probe:
                    return [instant]
            return []
        if self._frequent:
            second = wall.replace(tzinfo=tz, fold=1).astimezone(_UTC)
            if second != first and _wall(second, tz) == wall:  # occurs twice
                return [first, second]
        return [first]

    def next_runs(self, after: datetime, n: int = 1) -> list[datetime]:
        """The next ``n`` due instants strictly after the aware ``after``, in the schedule's zone."""
        if not isinstance(after, datetime) or after.utcoffset() is None:
            raise ValueError(f"after must be an aware datetime, got {after!r}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        tz = self._tz
        after_utc = after.astimezone(_UTC)
        start = _wall(after_utc, tz)
        if _offset(after_utc, tz) != _offset(after_utc + _FOLD_WINDOW, tz):
            # A fall-back may follow: earlier wall times can still be due after `after`.
            start -= _FOLD_WINDOW
        walls = croniter(self._cron, start)
        found: list[datetime] = []  # sorted, unique UTC instants > after
        while True:
            try:
                wall = walls.get_next(datetime)
            except CroniterBadDateError:
                break
            for instant in self._instants(wall):
                if instant > after_utc:
                    index = bisect_left(found, instant)
                    if index == len(found) or found[index] != instant:
                        found.insert(index, instant)
            if len(found) >= n:
                nth = found[n - 1]
                # Later wall times can only land before `nth` through a fold just before it.
                if _offset(nth - _FOLD_WINDOW, tz) == _offset(nth, tz) or wall >= _wall(nth, tz) + _FOLD_WINDOW:
                    break
        return [instant.astimezone(tz) for instant in found[:n]]


def next_periodic_runs(first_due: datetime, seconds: float, after: datetime, n: int = 1) -> list[datetime]:
    """The next ``n`` times ``first_due + k * seconds`` (k >= 0) strictly after ``after``.

    Arithmetic is done in UTC (so DST never matters) with microsecond precision;
    results are in ``first_due``'s time zone.
    """
    for name, value in (("first_due", first_due), ("after", after)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    try:
        period = timedelta(seconds=seconds)
    except (TypeError, OverflowError, ValueError):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}") from None
    if period <= timedelta(0):
        raise ValueError(f"seconds must be positive (at least 1 microsecond), got {seconds!r}")
    start = first_due.astimezone(_UTC)
    point = after.astimezone(_UTC)
    # timedelta // timedelta is exact integer arithmetic on microseconds.
    k = 0 if point < start else (point - start) // period + 1
    tz = first_due.tzinfo
    return [(start + (k + i) * period).astimezone(tz) for i in range(n)]
