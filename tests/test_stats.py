"""The per-minute run figures workers write for the dashboard (``autotask.stats``)."""

import datetime as dt
import json
import random
import uuid

import pytest
from django.utils import timezone

from autotask import stats
from autotask.models import MinuteStats
from autotask.queue import Outcome
from autotask.task import DONE, ERROR, WAITING

from . import tasks
from .conftest import wait_until


def test_percentiles_from_the_histogram_are_within_a_bucket():
    rng = random.Random(4)
    delays = sorted(rng.lognormvariate(-5, 1.5) for _ in range(5000))
    histogram = {}
    for delay in delays:
        histogram[stats.bucket(delay)] = histogram.get(stats.bucket(delay), 0) + 1
    for q in (0.5, 0.95, 0.99):
        exact = delays[int(q * len(delays)) - 1]
        assert stats.percentile(histogram, q) == pytest.approx(exact, rel=0.2)
    assert stats.percentile({}, 0.5) is None
    assert stats.bucket(-3) == 0 and stats.bucket(10**9) == stats.LAST_BUCKET
    low, high = stats.bucket_bounds(stats.bucket(0.0123))
    assert low <= 0.0123 < high and high / low == pytest.approx(2 ** (1 / stats.PER_DOUBLING))


@pytest.mark.django_db(transaction=True)
def test_a_flush_writes_the_counts_of_each_minute_once_and_removes_old_rows(monkeypatch):
    monkeypatch.setattr(stats, "_next_clean", 0.0)
    worker_id = uuid.uuid4()
    old = MinuteStats.objects.create(minute=timezone.now() - dt.timedelta(hours=3), worker_id=uuid.uuid4(), done=1)
    now = timezone.now()
    task = {"run_at": now - dt.timedelta(seconds=0.01), "started_at": now}
    runs = [(task, Outcome(DONE)), (task, Outcome(ERROR)), (task, Outcome(WAITING)), (task, Outcome(DONE))]
    stats.record(runs, [True, True, True, False])  # the last outcome was not kept: not counted
    stats.flush(worker_id)
    stats.record([(task, Outcome(DONE))], [True])
    stats.flush(worker_id)
    stats.flush(worker_id)  # nothing new: nothing written
    [row] = MinuteStats.objects.filter(worker_id=worker_id)
    assert (row.done, row.failed, row.retried, row.cancelled) == (2, 1, 1, 0)
    assert sum(json.loads(row.pickup).values()) == 4
    assert not MinuteStats.objects.filter(pk=old.pk).exists()
    series, pickup = stats.recent(timezone.now())
    assert sum(minute["done"] for minute in series[-2:]) == 2 and len(series) == 60
    assert pickup["p50"] == pytest.approx(0.01, rel=0.2)


@pytest.mark.django_db(transaction=True)
def test_a_worker_counts_its_runs_for_the_dashboard(processes):
    processes.worker()
    handles = tasks.add.bulk([(i, i) for i in range(20)])
    failures = [tasks.fail_with_value_error() for _ in range(2)]
    flaky = tasks.fail_twice_then_succeed("flaky")
    assert [h.wait(timeout=60) for h in handles] == [2 * i for i in range(20)]
    assert flaky.wait(timeout=60) == "third time lucky"
    wait_until(lambda: all(h.ready for h in failures), 60, "the failures")

    def totals():
        figures = {name: sum(m[name] for m in stats.recent(timezone.now())[0]) for name in stats.COUNTERS}
        return figures if figures["done"] == 21 and figures["failed"] == 2 and figures["retried"] == 2 else None

    assert wait_until(totals, 60, "the worker to write its counts") == {"done": 21, "failed": 2, "retried": 2, "cancelled": 0}
    assert stats.recent(timezone.now())[1]["runs"] == 25
