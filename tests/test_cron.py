"""Unit tests for autotask.cron (pure code: no database, no clock)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from autotask.cron import CronSchedule, next_periodic_runs

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def as_utc(runs: list[datetime]) -> list[datetime]:
    # Aware datetimes in one zone compare and subtract by wall time (fold ignored),
    # and inter-zone == is always False for fold times (PEP 495): compare in UTC.
    return [r.astimezone(UTC) for r in runs]


def runs_on_local_day(schedule: CronSchedule, day: date, limit: int = 200) -> list[datetime]:
    """All runs (in UTC) whose local date is ``day``, iterating from local midnight."""
    tz = schedule.tz
    after = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(seconds=1)
    runs = schedule.next_runs(after, limit)
    assert runs[-1].astimezone(tz).date() > day, "limit too small"
    return as_utc([r for r in runs if r.astimezone(tz).date() == day])


def brute_force(matches, after: datetime, n: int) -> list[datetime]:
    """Reference: scan every UTC minute after ``after``."""
    t = after.replace(second=0, microsecond=0)
    out = []
    while len(out) < n:
        t += timedelta(minutes=1)
        if t > after and matches(t):
            out.append(t)
    return out


def assert_strictly_increasing(runs: list[datetime]) -> None:
    runs = as_utc(runs)
    assert all(a < b for a, b in zip(runs, runs[1:])), runs


# --- crontab= examples (autotask 0.5's order) ------------------------------


def test_crontab_monday_0730():
    s = CronSchedule(crontab="30 7 0 * *", timezone="UTC")
    runs = s.next_runs(utc(2026, 1, 1), 6)
    assert runs[0] == utc(2026, 1, 5, 7, 30)  # 2026-01-05 is a Monday
    for r in runs:
        assert (r.weekday(), r.hour, r.minute, r.second, r.microsecond) == (0, 7, 30, 0, 0)
    assert [b - a for a, b in zip(runs, runs[1:])] == [timedelta(days=7)] * 5


def test_crontab_mixed_example():
    s = CronSchedule(crontab="* 9 0 4,7 10-15", timezone="UTC")
    after = utc(2026, 1, 1)

    def matches(t: datetime) -> bool:
        return t.hour == 9 and t.month in (4, 7) and (t.weekday() == 0 or 10 <= t.day <= 15)

    runs = s.next_runs(after, 700)
    assert runs == brute_force(matches, after, 700)
    days = sorted({r.date() for r in runs})
    assert days[:9] == [date(2026, 4, d) for d in (6, 10, 11, 12, 13, 14, 15, 20, 27)]
    assert runs[0] == utc(2026, 4, 6, 9, 0) and runs[59] == utc(2026, 4, 6, 9, 59)


def test_crontab_two_minutes_daily():
    s = CronSchedule(crontab="15,30 7 * * *", timezone="UTC")
    assert s.next_runs(utc(2026, 6, 1, 7, 20), 4) == [
        utc(2026, 6, 1, 7, 30),
        utc(2026, 6, 2, 7, 15),
        utc(2026, 6, 2, 7, 30),
        utc(2026, 6, 3, 7, 15),
    ]


def test_crontab_every_minute():
    s = CronSchedule(crontab="* * * * *", timezone="UTC")
    runs = s.next_runs(utc(2026, 5, 5, 10, 0, 30, 123456), 5)
    assert runs == [utc(2026, 5, 5, 10, m) for m in range(1, 6)]
    assert all(r.second == 0 and r.microsecond == 0 for r in runs)


def test_keyword_form_equals_crontab():
    kw = CronSchedule(minutes=[30], hours=[7], dow=[0], timezone="UTC")
    crontab = CronSchedule(crontab="30 7 0 * *", timezone="UTC")
    after = utc(2026, 2, 3)
    assert kw.next_runs(after, 5) == crontab.next_runs(after, 5)
    assert kw.signature() == crontab.signature()
    assert kw == crontab and hash(kw) == hash(crontab)


@pytest.mark.parametrize("values", [(30,), {30}, range(30, 31), 30])
def test_keyword_accepts_iterables_and_bare_int(values):
    s = CronSchedule(minutes=values, hours=[7], timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1), 1) == [utc(2026, 1, 1, 7, 30)]


def test_keyword_no_arguments_is_every_minute():
    s = CronSchedule(timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)]


# --- day matching -----------------------------------------------------------


def test_dom_dow_or_rule():
    after = utc(2026, 1, 1)
    both = CronSchedule(minutes=[0], hours=[0], dom=[1], dow=[0], timezone="UTC")
    assert both.next_runs(after, 8) == brute_force(
        lambda t: t.hour == 0 and t.minute == 0 and (t.day == 1 or t.weekday() == 0), after, 8
    )
    only_dom = CronSchedule(minutes=[0], hours=[0], dom=[1], timezone="UTC")
    assert [r.day for r in only_dom.next_runs(after, 4)] == [1, 1, 1, 1]
    only_dow = CronSchedule(minutes=[0], hours=[0], dow=[0], timezone="UTC")
    assert all(r.weekday() == 0 for r in only_dow.next_runs(after, 4))
    # crontab=: both dow and dom restricted -> OR as well.
    crontab = CronSchedule(crontab="0 0 0 * 1", timezone="UTC")
    assert crontab.next_runs(after, 8) == both.next_runs(after, 8)


def test_dom_or_full_dow_is_every_day():
    s = CronSchedule(minutes=[0], hours=[0], dom=[1], dow=range(7), timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1), 3) == [utc(2026, 1, d) for d in (2, 3, 4)]


def test_dom_31_only_in_long_months():
    s = CronSchedule(crontab="0 0 * * 31", timezone="UTC")
    runs = s.next_runs(utc(2026, 1, 1), 7)
    assert [r.month for r in runs] == [1, 3, 5, 7, 8, 10, 12]
    assert all(r.day == 31 for r in runs)


def test_midnight_first_of_month_included():
    s = CronSchedule(cron="0 0 1 * *", timezone="UTC")
    assert s.next_runs(utc(2026, 1, 31, 23, 59, 59), 1) == [utc(2026, 2, 1)]
    assert s.next_runs(utc(2026, 2, 1), 1) == [utc(2026, 3, 1)]


def test_feb_29_in_leap_years():
    s = CronSchedule(minutes=[0], hours=[0], dom=[29], months=[2], timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1), 3) == [utc(2028, 2, 29), utc(2032, 2, 29), utc(2036, 2, 29)]


def test_same_value_range_means_single_value():
    for s in (
        CronSchedule(crontab="0 9-9 * * *", timezone="UTC"),
        CronSchedule(cron="0 9-9 * * *", timezone="UTC"),
        CronSchedule(cron="0 9-9/2 * * *", timezone="UTC"),
    ):
        runs = s.next_runs(utc(2026, 1, 1), 3)
        assert runs == [utc(2026, 1, d, 9) for d in (1, 2, 3)], s
    assert CronSchedule(cron="9-9 * * * *", timezone="UTC").next_runs(utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 0, 9),
        utc(2026, 1, 1, 1, 9),
    ]


# --- standard cron ----------------------------------------------------------


def test_cron_every_15_minutes():
    s = CronSchedule(cron="*/15 * * * *", timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1, 10, 7), 4) == [utc(2026, 1, 1, 10, m) for m in (15, 30, 45)] + [
        utc(2026, 1, 1, 11)
    ]


def test_cron_weekdays_by_name():
    s = CronSchedule(cron="0 9 * * mon-fri", timezone="UTC")
    runs = s.next_runs(utc(2026, 1, 1), 10)
    assert all(r.weekday() < 5 and r.hour == 9 for r in runs)
    assert runs[:3] == [utc(2026, 1, 1, 9), utc(2026, 1, 2, 9), utc(2026, 1, 5, 9)]


@pytest.mark.parametrize("alias", ["@daily", "@midnight"])
def test_cron_daily_alias(alias):
    s = CronSchedule(cron=alias, timezone="UTC")
    assert s.next_runs(utc(2026, 1, 1, 12), 2) == [utc(2026, 1, 2), utc(2026, 1, 3)]
    assert s.signature() == CronSchedule(cron="0 0 * * *", timezone="UTC").signature()


def test_cron_other_aliases():
    after = utc(2026, 3, 15, 12, 30)
    assert CronSchedule(cron="@hourly", timezone="UTC").next_runs(after, 1) == [utc(2026, 3, 15, 13)]
    assert CronSchedule(cron="@weekly", timezone="UTC").next_runs(after, 1) == [utc(2026, 3, 22)]
    assert CronSchedule(cron="@monthly", timezone="UTC").next_runs(after, 1) == [utc(2026, 4, 1)]
    assert CronSchedule(cron="@yearly", timezone="UTC").next_runs(after, 1) == [utc(2027, 1, 1)]
    assert CronSchedule(cron="@annually", timezone="UTC").next_runs(after, 1) == [utc(2027, 1, 1)]


def test_cron_sunday_is_0_and_7():
    expected = [utc(2026, 1, 4), utc(2026, 1, 11)]  # Sundays
    sigs = set()
    for expr in ("0 0 * * 0", "0 0 * * 7", "0 0 * * sun"):
        s = CronSchedule(cron=expr, timezone="UTC")
        assert s.next_runs(utc(2026, 1, 1), 2) == expected
        sigs.add(s.signature())
    sigs.add(CronSchedule(crontab="0 0 6 * *", timezone="UTC").signature())  # crontab=: Sunday = 6
    assert len(sigs) == 1


def test_cron_nth_weekday_passthrough():
    s = CronSchedule(cron="0 0 * * 1#2", timezone="UTC")  # second Monday
    assert s.next_runs(utc(2026, 1, 1), 2) == [utc(2026, 1, 12), utc(2026, 2, 9)]


# --- signature / expression / tz --------------------------------------------


def test_signature_normalizes_equivalent_forms_and_detects_changes():
    a = CronSchedule(cron="*/15 * * * *", timezone="Europe/Berlin")
    assert a.signature() == CronSchedule(cron="0,15,30,45  *  * * *", timezone=BERLIN).signature()
    assert a.signature() != CronSchedule(cron="*/15 * * * *", timezone="UTC").signature()
    assert a.signature() != CronSchedule(cron="*/10 * * * *", timezone="Europe/Berlin").signature()
    assert "Europe/Berlin" in a.signature()


def test_expression_text():
    assert CronSchedule(crontab="30 7 0 * *").expression == "crontab '30 7 0 * *'"
    assert CronSchedule(cron="*/5 * * * *").expression == "cron '*/5 * * * *'"
    assert CronSchedule(minutes=[30], hours=[7], dow=[0]).expression == "minutes=[30] hours=[7] dow=[0]"


def test_timezone_resolution():
    assert CronSchedule(cron="@daily", timezone="Europe/Berlin").tz == BERLIN
    assert CronSchedule(cron="@daily", timezone=BERLIN).tz_name == "Europe/Berlin"
    fixed = timezone(timedelta(hours=2))
    s = CronSchedule(cron="@daily", timezone=fixed)
    assert s.tz is fixed
    assert s.next_runs(utc(2026, 1, 1, 12), 1) == [utc(2026, 1, 1, 22)]
    assert CronSchedule(cron="@daily", timezone=UTC).tz_name == "UTC"


def test_default_timezone_from_settings_or_utc():
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        expected = settings.TIME_ZONE or "UTC"
    except ImproperlyConfigured:
        expected = "UTC"
    assert CronSchedule(cron="@daily").tz_name == expected


def test_pytz_zone_works_like_zoneinfo():
    pytz = pytest.importorskip("pytz")
    p = CronSchedule(cron="30 2 * * *", timezone=pytz.timezone("Europe/Berlin"))
    z = CronSchedule(cron="30 2 * * *", timezone=BERLIN)
    assert p.tz_name == "Europe/Berlin" and p.signature() == z.signature()
    after = datetime(2026, 3, 27, tzinfo=BERLIN)
    assert p.next_runs(after, 5) == z.next_runs(after, 5)
    # An `after` in a pytz zone is fine too.
    assert p.next_runs(pytz.utc.localize(datetime(2026, 3, 27)), 2) == z.next_runs(utc(2026, 3, 27), 2)


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "crontab, message",
    [
        ("30 24 * * *", "crontab field 'hours' has 24, expected 0-23"),
        ("60 * * * *", "crontab field 'minutes' has 60, expected 0-59"),
        ("* * 7 * *", "crontab field 'dow' has 7, expected 0-6"),
        ("* * * 13 *", "crontab field 'months' has 13, expected 1-12"),
        ("* * * 0 *", "crontab field 'months' has 0, expected 1-12"),
        ("* * * * 32", "crontab field 'dom' has 32, expected 1-31"),
        ("* * * * 0", "crontab field 'dom' has 0, expected 1-31"),
        ("* * mon * *", "crontab field 'dow' has 'mon'"),
        ("*/5 * * * *", "crontab field 'minutes' has '\\*/5'.* use cron= instead"),
        ("* 5-3 * * *", "crontab field 'hours' has reversed range 5-3"),
        ("* 1,,2 * * *", "crontab field 'hours' has ''"),
        ("* * * *", "has 4 fields, expected 5"),
        ("* * * * * *", "has 6 fields, expected 5"),
        ("0 0 * 2 30,31", "never"),
    ],
)
def test_crontab_validation(crontab, message):
    with pytest.raises(ValueError, match=message):
        CronSchedule(crontab=crontab, timezone="UTC")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"minutes": [60]}, "'minutes' has 60, expected 0-59"),
        ({"hours": [-1]}, "'hours' has -1, expected 0-23"),
        ({"dow": [7]}, "'dow' has 7, expected 0-6"),
        ({"months": [0]}, "'months' has 0, expected 1-12"),
        ({"dom": [32]}, "'dom' has 32, expected 1-31"),
        ({"hours": []}, "'hours' is empty"),
        ({"minutes": ["5"]}, "'minutes' has '5'"),
        ({"minutes": [5.0]}, "'minutes' has 5.0"),
        ({"minutes": [True]}, "'minutes' has True"),
        ({"minutes": "5"}, "'minutes' has '5'"),
        ({"dom": [31], "months": [4, 6]}, "never"),
    ],
)
def test_keyword_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CronSchedule(timezone="UTC", **kwargs)


@pytest.mark.parametrize(
    "cron, message",
    [
        ("61 * * * *", "invalid cron expression '61 \\* \\* \\* \\*'"),
        ("foo", "cron expression 'foo'"),
        ("* * * *", "has 4 fields, expected 5"),
        ("0 * * * * *", "has 6 fields, expected 5"),
        ("@reboot", "'@reboot' uses unknown alias"),
        ("0 0 * * xyz", "invalid cron expression '0 0 \\* \\* xyz'"),
        ("R * * * *", "random"),
        ("0 0 31 2 *", "never"),
    ],
)
def test_cron_validation(cron, message):
    with pytest.raises(ValueError, match=message):
        CronSchedule(cron=cron, timezone="UTC")


def test_other_validation_errors():
    with pytest.raises(ValueError, match=r"crontab= \(autotask 0.5's order: minutes hours dow months dom\) or cron="):
        CronSchedule(crontab="* * * * *", cron="* * * * *")
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus_Mons'"):
        CronSchedule(cron="@daily", timezone="Mars/Olympus_Mons")
    s = CronSchedule(cron="@daily", timezone="UTC")
    with pytest.raises(ValueError, match="aware"):
        s.next_runs(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="n must be >= 1"):
        s.next_runs(utc(2026, 1, 1), 0)


# --- strictly after -----------------------------------------------------------


def test_after_exactly_at_due_time_is_excluded():
    s = CronSchedule(crontab="30 7 0 * *", timezone="UTC")
    assert s.next_runs(utc(2026, 1, 5, 7, 30), 1) == [utc(2026, 1, 12, 7, 30)]
    assert s.next_runs(utc(2026, 1, 5, 7, 29, 59, 999999), 1) == [utc(2026, 1, 5, 7, 30)]


def test_results_are_in_schedule_zone():
    s = CronSchedule(cron="0 9 * * *", timezone=BERLIN)
    (run,) = s.next_runs(utc(2026, 7, 1), 1)
    assert run.tzinfo is BERLIN and (run.hour, run.utcoffset()) == (9, timedelta(hours=2))


# --- daylight saving ---------------------------------------------------------

DST_DAYS = [
    # zone, day, kind, expected UTC instant of a daily 02:30
    (BERLIN, date(2026, 3, 29), "spring", utc(2026, 3, 29, 1, 0)),  # gap -> 03:00 CEST
    (BERLIN, date(2026, 10, 25), "fall", utc(2026, 10, 25, 0, 30)),  # first 02:30 (CEST)
    (NEW_YORK, date(2026, 3, 8), "spring", utc(2026, 3, 8, 7, 0)),  # gap -> 03:00 EDT
    (NEW_YORK, date(2026, 11, 1), "fall", utc(2026, 11, 1, 7, 30)),  # 02:30 EST, unambiguous
]


@pytest.mark.parametrize("tz, day, kind, expected", DST_DAYS)
def test_daily_0230_runs_once_on_dst_days(tz, day, kind, expected):
    for s in (
        CronSchedule(cron="30 2 * * *", timezone=tz),
        CronSchedule(crontab="30 2 * * *", timezone=tz),
        CronSchedule(minutes=[30], hours=[2], timezone=tz),
    ):
        assert runs_on_local_day(s, day) == [expected]


@pytest.mark.parametrize("tz, day, kind, expected", DST_DAYS)
def test_hourly_follows_real_time_on_dst_days(tz, day, kind, expected):
    s = CronSchedule(cron="0 * * * *", timezone=tz)
    runs = runs_on_local_day(s, day)
    assert len(runs) == (23 if kind == "spring" else 25)
    assert_strictly_increasing(runs)
    assert all(b - a == timedelta(hours=1) for a, b in zip(runs, runs[1:]))


@pytest.mark.parametrize("tz, day, kind, expected", DST_DAYS)
def test_every_30_minutes_never_duplicates(tz, day, kind, expected):
    s = CronSchedule(cron="*/30 * * * *", timezone=tz)
    runs = runs_on_local_day(s, day)
    assert len(runs) == (46 if kind == "spring" else 50)
    assert len(set(runs)) == len(runs)
    assert all(b - a == timedelta(minutes=30) for a, b in zip(runs, runs[1:]))


@pytest.mark.parametrize("tz, day, kind, expected", DST_DAYS)
def test_batch_equals_one_at_a_time(tz, day, kind, expected):
    """Asking for n runs must equal asking n times for the next one (fold ordering)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(hours=1)
    for expr in ("*/20 * * * *", "0 * * * *", "15 1-3 * * *", "* 2 * * *", "0,30 0-4 * * *"):
        s = CronSchedule(cron=expr, timezone=tz)
        batch = as_utc(s.next_runs(start, 40))
        assert_strictly_increasing(batch)
        single, after = [], start
        for _ in range(40):
            (after,) = s.next_runs(after, 1)
            single.append(after.astimezone(UTC))
        assert batch == single, expr


def test_new_york_fall_back_0130_runs_once_at_first_occurrence():
    s = CronSchedule(cron="30 1 * * *", timezone=NEW_YORK)
    assert runs_on_local_day(s, date(2026, 11, 1)) == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT
    # Asked from between the two occurrences, the repeat is not a new run.
    assert as_utc(s.next_runs(utc(2026, 11, 1, 5, 45), 1)) == [utc(2026, 11, 2, 6, 30)]


def test_frequent_schedule_runs_both_occurrences_from_inside_the_fold():
    s = CronSchedule(cron="0 * * * *", timezone=BERLIN)
    # 00:50 UTC is 02:50 CEST; the next hour mark is 02:00 CET = 01:00 UTC.
    (run,) = s.next_runs(utc(2026, 10, 25, 0, 50), 1)
    assert run.astimezone(UTC) == utc(2026, 10, 25, 1) and run.fold == 1 and (run.hour, run.minute) == (2, 0)


def test_gap_times_collapse_to_one_run():
    s = CronSchedule(crontab="0,30 2,3 * * *", timezone=BERLIN)
    runs = runs_on_local_day(s, date(2026, 3, 29))
    # 02:00 and 02:30 do not exist and both map to 03:00 CEST, which is also due itself.
    assert runs == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)]


# --- fixed-rate periodic ---------------------------------------------------------


def test_periodic_basic():
    first = utc(2026, 1, 1)
    assert next_periodic_runs(first, 3600, utc(2025, 12, 31)) == [first]
    assert next_periodic_runs(first, 3600, first) == [utc(2026, 1, 1, 1)]
    assert next_periodic_runs(first, 3600, utc(2026, 1, 1, 0, 30), 3) == [utc(2026, 1, 1, h) for h in (1, 2, 3)]
    assert next_periodic_runs(first, 0.5, utc(2026, 1, 1, 0, 0, 1), 2) == [
        utc(2026, 1, 1, 0, 0, 1, 500000),
        utc(2026, 1, 1, 0, 0, 2),
    ]


def test_periodic_large_k_is_exact():
    first = utc(2000, 1, 1)
    after = utc(2026, 5, 17, 13, 14, 15)
    runs = next_periodic_runs(first, 7, after, 3)
    period = timedelta(seconds=7)
    assert runs[0] > after >= runs[0] - period
    assert all((r - first) % period == timedelta(0) for r in runs)
    assert [b - a for a, b in zip(runs, runs[1:])] == [period, period]


def test_periodic_across_dst_uses_real_time():
    first = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # CET
    runs = next_periodic_runs(first, 86400, first, 2)
    assert runs == [utc(2026, 3, 29, 11), utc(2026, 3, 30, 11)]
    assert runs[0].hour == 13 and runs[0].tzinfo is BERLIN  # 13:00 CEST: 24 real hours later


def test_periodic_validation():
    with pytest.raises(ValueError, match="seconds must be positive"):
        next_periodic_runs(utc(2026, 1, 1), 0, utc(2026, 1, 1))
    with pytest.raises(ValueError, match="after must be an aware datetime"):
        next_periodic_runs(utc(2026, 1, 1), 60, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="n must be >= 1"):
        next_periodic_runs(utc(2026, 1, 1), 60, utc(2026, 1, 1), 0)

