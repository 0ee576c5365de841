"""The figures of the dashboard and of autotask_status (``autotask.overview``)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from autotask import overview
from autotask.models import Schedule, Task, Worker
from autotask.task import DONE, ERROR, WAITING

pytestmark = pytest.mark.django_db(transaction=True)


def add_rows(status, count, **fields):
    now = timezone.now()
    values = {"function": "tests.tasks.noop", "status": status, "run_at": now, "created_at": now, **fields}
    Task.objects.bulk_create([Task(**values) for _ in range(count)])


def counts():
    return {status: (c.value, c.kind) for status, c in overview.status_counts("default", timezone.now())[0].items()}


def analyze():
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE autotask_task" if connection.vendor != "mysql" else "ANALYZE TABLE autotask_task")
        if connection.vendor == "mysql":
            cursor.fetchall()


def test_counts_are_exact_up_to_the_cap_and_marked_beyond(monkeypatch):
    monkeypatch.setattr(overview, "COUNT_CAP", 5)
    add_rows(DONE, 30)
    add_rows(WAITING, 3)
    assert counts()[WAITING] == (3, "exact") and counts()[ERROR] == (0, "exact")
    if connection.vendor == "sqlite":
        assert counts()[DONE] == (5, "at_least")  # no estimate to be had quickly: a lower bound
        assert str(overview.Count(5, "at_least")) == "5+"
    else:
        add_rows(ERROR, 12)
        analyze()
        for status, rows in ((DONE, 30), (ERROR, 12)):
            value, kind = counts()[status]
            assert kind == "approx" and rows / 2 <= value <= rows * 2, (status, value)  # the planner's estimates
        assert str(overview.Count(1234, "approx")) == "≈1,234"
    exact, due = overview.status_counts("default", timezone.now(), exact=True)
    assert (exact[DONE].value, exact[DONE].kind, due.value) == (30, "exact", 3)


def test_health_needs_a_live_worker_when_work_is_due():
    assert overview.snapshot()["health"] == {"ok": True, "problems": [], "workers_alive": 0}  # nothing due
    add_rows(WAITING, 2, run_at=timezone.now() + dt.timedelta(hours=1))
    assert overview.snapshot()["health"]["ok"] is True  # not due yet
    add_rows(WAITING, 3, run_at=timezone.now() - dt.timedelta(seconds=30))
    figures = overview.snapshot()
    assert figures["health"]["problems"] == ["3 tasks are due and no worker is alive"]
    assert figures["due"]["count"]["value"] == 3 and figures["due"]["oldest_age"] >= 30
    assert overview.snapshot(grace=3600)["health"]["ok"] is True
    now = timezone.now()
    Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now - dt.timedelta(hours=1))  # lost
    assert overview.snapshot()["health"]["ok"] is False
    Worker.objects.create(host="h", pid=2, started_at=now, heartbeat_at=now)
    assert overview.snapshot()["health"] == {"ok": True, "problems": [], "workers_alive": 1}


def test_a_due_schedule_without_a_worker_is_unhealthy_unless_paused():
    schedule = Schedule.objects.create(function="tests.schedule_tasks.every_minute", kind="cron", expression="x",
                                       signature="s", next_run_at=timezone.now() - dt.timedelta(minutes=5))
    assert overview.snapshot()["health"]["problems"] == ["1 schedules are due and no worker is alive"]
    Schedule.objects.filter(pk=schedule.pk).update(paused=True)
    assert overview.snapshot()["health"]["ok"] is True
    [shown] = overview.snapshot()["schedules"]
    assert shown["paused"] is True


def test_recent_failures_come_newest_first_with_short_messages():
    now = timezone.now()
    for minutes, message in ((30, "old"), (1, "new " + "x" * 1000), (10, "middle")):
        Task.objects.create(function="tests.tasks.noop", status=ERROR, run_at=now - dt.timedelta(minutes=minutes),
                            created_at=now, error_message=message)
    failures = overview.snapshot()["failures"]
    assert [f["message"][:3] for f in failures] == ["new", "mid", "old"]
    assert len(failures[0]["message"]) == overview.MESSAGE_CHARS
