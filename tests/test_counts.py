"""Counting tasks quickly at any size (``autotask.counts``): capped reads, estimates, queues, priorities."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from autotask import counts
from autotask.counts import Count
from autotask.models import Task
from autotask.task import DONE, ERROR, RUNNING, WAITING

pytestmark = pytest.mark.django_db(transaction=True)


def add_rows(status, number, **fields):
    now = timezone.now()
    values = {"function": "tests.tasks.noop", "status": status, "run_at": now, "created_at": now, **fields}
    Task.objects.bulk_create([Task(**values) for _ in range(number)])


def counted(**kwargs):
    return counts.count_tasks("default", timezone.now(), **kwargs)


def by_status(**kwargs):
    return {status: (c.value, c.kind) for status, c in counted(**kwargs).statuses.items()}


def analyze():
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE autotask_task" if connection.vendor == "mysql" else "ANALYZE autotask_task")
        if connection.vendor == "mysql":
            cursor.fetchall()


def test_counts_are_exact_up_to_the_cap_and_marked_beyond(monkeypatch):
    monkeypatch.setattr(counts, "COUNT_CAP", 5)
    add_rows(DONE, 30)
    add_rows(WAITING, 3)
    assert by_status()[WAITING] == (3, "exact") and by_status()[ERROR] == (0, "exact")
    if connection.vendor == "sqlite":
        assert by_status()[DONE] == (5, "at_least")  # no estimate to be had quickly: a lower bound
    else:
        add_rows(ERROR, 12)
        analyze()
        for status, rows in ((DONE, 30), (ERROR, 12)):
            value, kind = by_status()[status]
            assert kind == "approx" and rows / 2 <= value <= rows * 2, (status, value)  # the planner's estimates
    assert by_status(exact=True)[DONE] == (30, "exact")
    assert [str(Count(5, "at_least")), str(Count(1234, "approx")), str(Count(7))] == ["5+", "≈1,234", "7"]


def test_due_tasks_and_the_oldest_across_priorities(monkeypatch):
    monkeypatch.setattr(counts, "COUNT_CAP", 5)
    now = timezone.now()
    add_rows(WAITING, 2, priority=10, run_at=now - dt.timedelta(seconds=5))
    add_rows(WAITING, 3, priority=0, run_at=now - dt.timedelta(seconds=60))
    add_rows(WAITING, 4, priority=-3, run_at=now + dt.timedelta(hours=1))  # not due
    result = counted()
    assert result.due == Count(5) and result.oldest_due["run_at"] == Task.objects.filter(priority=0).first().run_at
    add_rows(WAITING, 1, priority=50, run_at=now - dt.timedelta(seconds=1))
    assert counted().due == Count(5, "at_least")
    assert counted(exact=True).due == Count(6)


def test_queues_are_counted_from_the_first_tasks_in_claim_order(monkeypatch):
    monkeypatch.setattr(counts, "COUNT_CAP", 10)
    monkeypatch.setattr(counts, "QUEUE_SAMPLE", 10)
    add_rows(WAITING, 6, queue_name="mail")
    add_rows(WAITING, 2)
    add_rows(RUNNING, 1, queue_name="mail")
    result = counted()
    assert result.queues == {"mail": {WAITING: Count(6), RUNNING: Count(1)}, "default": {WAITING: Count(2)}}
    add_rows(WAITING, 12, queue_name="mail")
    result = counted()
    if connection.vendor == "sqlite":  # 10 of the 20 read, and "10+" waiting: lower bounds
        assert result.queues["mail"][WAITING].kind == "at_least"
        assert sum(q[WAITING].value for q in result.queues.values()) == 10
    else:
        analyze()
        result = counted()
        assert result.queues["mail"][WAITING].kind == "approx"
    assert counted(exact=True).queues["mail"][WAITING] == Count(18)
