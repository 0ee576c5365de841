"""Schedules in words: pure, tested with plain values (no clock, no database)."""

import datetime as dt

import pytest

from autotask.cron import CronSchedule
from autotask.cron_words import describe, describe_cron, describe_seconds

UTC = dt.timezone.utc

STANDARD = [  # cron= (minute hour dom month dow, Sunday = 0) -> words
    ("30 7 * * 1", "Mondays at 07:30"),
    ("30 7 * * mon", "Mondays at 07:30"),
    ("* * * * *", "every minute"),
    ("*/5 * * * *", "every 5 minutes"),
    ("0,30 * * * *", "every 30 minutes"),
    ("15 * * * *", "every hour at :15"),
    ("@hourly", "every hour at :00"),
    ("5,35 * * * *", "every hour at :05 and :35"),
    ("*/7 * * * *", "every 7 minutes from :00 to :56 of each hour"),
    ("0 */2 * * *", "every 2 hours from 00:00 to 22:00"),
    ("0 0-7 * * *", "every hour from 00:00 to 07:00"),
    ("* 9 * * *", "every minute from 09:00 to 09:59"),
    ("0-30/5 9 * * *", "every 5 minutes from 09:00 to 09:30"),
    ("*/20 9,13 * * *", "every 20 minutes from 09:00 to 09:40 and from 13:00 to 13:40"),
    ("0,30 9-17 * * *", "every 30 minutes from 09:00 to 17:30"),
    ("@daily", "every day at 00:00"),
    ("0 9,18 * * *", "every day at 09:00 and 18:00"),
    ("5,35 9 * * *", "every day at 09:05 and 09:35"),
    ("0 9-17 * * 1-5", "Monday to Friday, every hour from 09:00 to 17:00"),
    ("*/15 9-17 * * mon-fri", "Monday to Friday, every 15 minutes from 09:00 to 17:45"),
    ("0 0 * * 6,0", "Saturdays and Sundays at 00:00"),
    ("0 0 * * 6,7", "Saturdays and Sundays at 00:00"),
    ("0 8 * * 1,3,5", "Mondays, Wednesdays and Fridays at 08:00"),
    ("@weekly", "Sundays at 00:00"),
    ("0 9 10-15 4,7 *", "at 09:00 on the 10th-15th in April and July"),
    ("30 7 1 * *", "at 07:30 on the 1st of each month"),
    ("@monthly", "at 00:00 on the 1st of each month"),
    ("0 0 1,15 * *", "at 00:00 on the 1st and 15th of each month"),
    ("0 0 1-5,22 * *", "at 00:00 on the 1st-5th and 22nd of each month"),
    ("0 12 2,3,11,21,23,31 * *", "at 12:00 on the 2nd, 3rd, 11th, 21st, 23rd and 31st of each month"),
    ("@yearly", "at 00:00 on the 1st in January"),
    ("0 0 * 3-10 *", "every day at 00:00 from March to October"),
    ("0 0 * 1,3-5,12 *", "every day at 00:00 in January, March to May and December"),
    ("*/10 * * 12 *", "every 10 minutes in December"),
    ("0 0 1 * 1", "at 00:00 on Mondays and on the 1st of each month"),
    ("9-9 9 * * *", "every day at 09:09"),
]


@pytest.mark.parametrize("cron, words", STANDARD)
def test_standard_cron_in_words(cron, words):
    assert CronSchedule(cron=cron, timezone="UTC").describe(dt.datetime(2026, 1, 1, tzinfo=UTC)) == words


CRONTAB = [  # crontab= in autotask 0.5's order (minutes hours dow months dom, Monday = 0) -> words
    ("30 7 0 * *", "Mondays at 07:30"),
    ("30 7 * * 1", "at 07:30 on the 1st of each month"),  # the mistake the words make visible
    ("0 3 * * *", "every day at 03:00"),
    ("0 9 * 4,7 10-15", "at 09:00 on the 10th-15th in April and July"),
    ("* 9 0 4,7 10-15", "every minute from 09:00 to 09:59 on Mondays and on the 10th-15th in April and July"),
    ("0 18 0-4 * *", "Monday to Friday at 18:00"),
    ("0 10 5,6 * *", "Saturdays and Sundays at 10:00"),
]


@pytest.mark.parametrize("crontab, words", CRONTAB)
def test_crontab_in_words(crontab, words):
    assert CronSchedule(crontab=crontab, timezone="UTC").describe(dt.datetime(2026, 1, 1, tzinfo=UTC)) == words


def test_both_orders_and_the_keyword_form_read_the_same():
    after = dt.datetime(2026, 1, 1, tzinfo=UTC)
    forms = [
        CronSchedule(crontab="30 7 0 * *"),
        CronSchedule(cron="30 7 * * 1"),
        CronSchedule(minutes=[30], hours=[7], dow=[0]),
    ]
    assert {form.describe(after) for form in forms} == {"Mondays at 07:30"}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Apia"])
def test_words_are_wall_clock_times_in_the_schedules_zone(zone):
    schedule = CronSchedule(cron="30 2 * * 0", timezone=zone)
    assert schedule.describe(dt.datetime(2026, 3, 28, tzinfo=UTC)) == "Sundays at 02:30"
    # ... and those words are what runs: every due time is a Sunday at 02:30 there (or just after a DST gap).
    for run in schedule.next_runs(dt.datetime(2026, 1, 1, tzinfo=UTC), 60):
        assert run.strftime("%a") == "Sun" and (run.hour, run.minute) in {(2, 30), (3, 0), (3, 30)}


def test_no_words_lists_the_next_three_due_times_in_the_schedules_zone():
    after = dt.datetime(2026, 2, 15, tzinfo=UTC)
    last_day = CronSchedule(cron="0 12 L * *", timezone="Europe/Berlin")
    assert describe(last_day, after) == (
        "on Sat 2026-02-28 12:00 CET, Tue 2026-03-31 12:00 CEST, Thu 2026-04-30 12:00 CEST, ..."
    )
    second_monday = CronSchedule(cron="0 12 * * 1#2", timezone="America/New_York")
    assert second_monday.describe(after) == (
        "on Mon 2026-03-09 12:00 EDT, Mon 2026-04-13 12:00 EDT, Mon 2026-05-11 12:00 EDT, ..."
    )
    irregular = CronSchedule(cron="1,2,4,8,16,32 * * * *", timezone="UTC")
    assert irregular.describe(after) == (
        "on Sun 2026-02-15 00:01 UTC, Sun 2026-02-15 00:02 UTC, Sun 2026-02-15 00:04 UTC, ..."
    )
    assert describe(last_day, after, n=1) == "on Sat 2026-02-28 12:00 CET, ..."


def test_describe_cron_takes_the_normalised_string_and_says_none_where_unsure():
    assert describe_cron("30 7 * * 1") == "Mondays at 07:30"
    assert describe_cron("0 12 l * *") is None
    assert describe_cron("1,2,4,8,16,32 * * * *") is None
    assert describe_cron("0,5,10,15,20,25,30 9,10 * * *") is None  # a rhythm that stops mid-hour, twice
    assert describe_cron("0 0 1 1") is None


@pytest.mark.parametrize(
    "seconds, words",
    [
        (1, "every second"), (0.5, "every 0.5 seconds"), (1.5, "every 1.5 seconds"), (15, "every 15 seconds"),
        (60, "every minute"), (60.0, "every minute"), (90, "every 90 seconds"), (300, "every 5 minutes"),
        (3600, "every hour"), (5400, "every 90 minutes"), (7200, "every 2 hours"), (86400, "every day"),
        (172800, "every 2 days"), (604800, "every week"), (1209600, "every 2 weeks"),
    ],
)
def test_periodic_in_words(seconds, words):
    assert describe_seconds(seconds) == words
