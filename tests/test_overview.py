"""The figures of the dashboard and of autotask_status (``autotask.overview``)."""

import datetime as dt

import pytest
from django.utils import timezone

from autotask import overview
from autotask.models import Schedule, Task, Worker
from autotask.task import ERROR, RUNNING, WAITING

pytestmark = pytest.mark.django_db(transaction=True)


def add_rows(status, count, **fields):
    now = timezone.now()
    values = {"function": "tests.tasks.noop", "status": status, "run_at": now, "created_at": now, **fields}
    Task.objects.bulk_create([Task(**values) for _ in range(count)])


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


def test_recent_failures_come_newest_first_whatever_their_priority_with_short_messages(monkeypatch):
    monkeypatch.setattr(overview, "FAILURES", 3)
    now = timezone.now()
    for minutes, priority, message in ((30, 0, "old"), (1, -5, "new " + "x" * 1000), (10, 50, "middle"), (20, 0, "more")):
        Task.objects.create(function="tests.tasks.noop", status=ERROR, run_at=now - dt.timedelta(minutes=minutes),
                            created_at=now, error_message=message, priority=priority)
    failures = overview.snapshot()["failures"]
    assert [f["message"][:3] for f in failures] == ["new", "mid", "mor"]
    assert len(failures[0]["message"]) == overview.MESSAGE_CHARS


def test_queues_show_waiting_and_running_tasks_and_the_live_workers_that_take_them():
    now = timezone.now()
    add_rows(WAITING, 2, queue_name="mail")
    add_rows(RUNNING, 1, queue_name="mail")
    add_rows(WAITING, 1)
    Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now, queues="mail,reports")
    Worker.objects.create(host="h", pid=2, started_at=now, heartbeat_at=now)  # takes every queue
    Worker.objects.create(host="h", pid=3, started_at=now, heartbeat_at=now - dt.timedelta(hours=1), queues="lost")
    queues = {q["queue"]: (q["waiting"]["text"], q["running"]["text"], q["workers"]) for q in overview.snapshot()["queues"]}
    assert queues == {"default": ("1", "0", 1), "mail": ("2", "1", 2), "reports": ("0", "0", 2)}
