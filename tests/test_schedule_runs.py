"""Schedules with options, and missed due times that coalesce, with real workers."""

import datetime as dt
import json
import signal
import time

import pytest
from django.utils import timezone

from autotask import schedules, timeutil
from autotask.models import Schedule, Task
from autotask.task import DONE
from autotask.tasks import DelayedTask, cron_task, periodic_task

from . import schedule_tasks, tasks  # noqa: F401  (schedule_tasks registers its schedules)
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = "tests.schedule_tasks_promises"
EVERY_SECOND = f"{FIXTURES}.every_second_note"


def runs_of(path):
    return list(Task.objects.filter(schedule__function=path).order_by("due_at"))


def assert_coalesced(runs, period=1.0):
    """Each run's due time comes after the moment the run before it was made: no run was
    made for a due time that had passed when its predecessor was made (no burst). And every
    due time lies on the schedule's grid (a fixed-rate schedule keeps its phase)."""
    for earlier, later in zip(runs, runs[1:]):
        assert later.due_at > earlier.created_at, [(r.due_at, r.created_at) for r in runs]
    for run in runs:
        offset = (run.due_at - runs[0].due_at).total_seconds()
        assert abs(offset - round(offset / period) * period) < 1e-3, offset


def test_a_schedule_held_back_by_a_long_task_runs_once_afterwards(processes):
    processes.worker(AUTOTASK_TEST_IMPORT=FIXTURES)  # one worker: the long task holds it for 4 s
    wait_until(lambda: Note.objects.filter(key="every_second_note").exists(), 60, "the schedule's first run")
    long = tasks.sleep_for(4, key="holds-the-worker")
    assert long.wait(timeout=60) == 4
    ended = long.finished_at
    wait_until(lambda: Task.objects.filter(schedule__function=EVERY_SECOND, created_at__gt=ended, status=DONE).count() >= 3,
               60, "three runs after the long task")
    runs = runs_of(EVERY_SECOND)
    assert_coalesced(runs)
    late = [run for run in runs if run.created_at >= ended and run.due_at < ended]
    assert len(late) == 1, late  # the 4 s of missed due times ran once
    assert all(run.status == DONE for run in runs if run.created_at < ended)


def test_a_schedule_missed_during_downtime_runs_once_afterwards(processes):
    first = processes.worker(AUTOTASK_TEST_IMPORT=FIXTURES)
    wait_until(lambda: Note.objects.filter(key="every_second_note").count() >= 2, 60, "two runs")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    time.sleep(3)  # the downtime: three due times pass with no worker
    restarted = timezone.now()
    processes.worker(AUTOTASK_TEST_IMPORT=FIXTURES)
    wait_until(lambda: Task.objects.filter(schedule__function=EVERY_SECOND, created_at__gt=restarted, status=DONE).count() >= 2,
               60, "two runs after the restart")
    runs = runs_of(EVERY_SECOND)
    assert_coalesced(runs)
    assert len([run for run in runs if run.created_at > restarted and run.due_at < restarted]) == 1


def test_coalescing_keeps_the_phase_and_needs_no_worker():
    schedules.sync()
    row = Schedule.objects.get(function="tests.schedule_tasks.every_second")
    due = timeutil.aware(row.next_run_at) - dt.timedelta(seconds=5)  # five due times passed, fewer than 30 s ago
    Schedule.objects.filter(pk=row.pk).update(next_run_at=timeutil.to_db(due))
    now = timezone.now()
    schedules.claim_due(now)
    schedules.claim_due(now)
    assert Task.objects.filter(schedule=row).count() == 1
    following = timeutil.aware(Schedule.objects.get(pk=row.pk).next_run_at)
    assert timeutil.aware(now) < following <= timeutil.aware(now) + dt.timedelta(seconds=1)
    assert (following - due).total_seconds() == round((following - due).total_seconds())  # on the grid


def test_schedule_options_reach_each_run(processes):
    processes.worker(AUTOTASK_TEST_IMPORT=FIXTURES)
    path = f"{FIXTURES}.add_with_options"
    wait_until(lambda: Task.objects.filter(schedule__function=path, status=DONE).exists(), 120, "the run to end")
    run = Task.objects.get(schedule__function=path)
    assert (run.timeout, run.retries, run.ttl, run.queue_name, run.priority) == (30, 2, 120, "reports", 7)
    assert json.loads(run.arguments) == {"args": [2], "kwargs": {"b": 3}}
    handle = DelayedTask(run.pk)
    assert handle.result == 5 and handle.attempts == 2  # the first attempt failed and was retried
    failed, succeeded = handle.attempts_history
    assert failed.runner_pid is not None  # timeout=30: it ran in the runner
    assert (succeeded.started_at - failed.started_at).total_seconds() >= 0.1  # retry_delay=0.1
    assert list(Note.objects.filter(key="add_with_options").values_list("value", flat=True).order_by("id")) == [
        "2+3 attempt 1", "2+3 attempt 2"
    ]
    stored = Schedule.objects.get(function=path)
    assert (stored.timeout, stored.retries, stored.ttl, stored.queue_name, stored.priority) == (30, 2, 120, "reports", 7)
    nightly = Schedule.objects.get(function=f"{FIXTURES}.nightly_report")
    assert (nightly.timeout, nightly.retries, nightly.ttl, nightly.queue_name, nightly.priority) == (
        600, 1, 3600, "reports", -5
    )
    assert json.loads(nightly.arguments) == {"args": ["nightly"], "kwargs": {}}
    plain = Schedule.objects.get(function=EVERY_SECOND)
    assert (plain.timeout, plain.retries, plain.ttl, plain.queue_name, plain.priority) == (None, 0, None, "default", 0)
    assert Task.objects.filter(schedule=plain).first().ttl == 86400  # AUTOTASK_SCHEDULE_RUN_TTL


def test_a_changed_option_is_a_changed_schedule():
    from . import schedule_tasks_promises

    path = f"{FIXTURES}.nightly_report"
    original = schedules.REGISTRY[path]
    schedules.sync()
    before = Schedule.objects.get(function=path).signature
    try:
        cron_task(crontab="0 3 * * *", args=("weekly",), timeout=600, retries=1, ttl=3600, queue_name="reports",
                  priority=-5)(schedule_tasks_promises.nightly_report)
        schedules.sync()
        row = Schedule.objects.get(function=path)
        assert row.signature != before and json.loads(row.arguments)["args"] == ["weekly"]
        back = schedules.ScheduleSpec.from_signature(path, row.signature)  # what the admin describes it from
        assert back.cron.signature() == original.cron.signature() and row.describe() == original.describe()
        cron_task(crontab="0 3 * * *", args=("weekly",), timeout=600, retries=1, ttl=3600, queue_name="reports",
                  priority=-5, retry_delay=5)(schedule_tasks_promises.nightly_report)
        assert schedules.REGISTRY[path].signature != row.signature  # the retry policy counts too
    finally:
        schedules.REGISTRY[path] = original
    schedules.sync()
    assert Schedule.objects.get(function=path).signature == before


def _two(a, b):
    return a + b


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"retries": -1}, ValueError, "retries must be 0 or more, got -1"),
        ({"ttl": 1.5}, TypeError, "ttl must be a whole number, got 1.5"),
        ({"timeout": 0}, ValueError, "timeout must be more than 0"),
        ({"priority": 200}, ValueError, "priority must be from -100 to 100, got 200"),
        ({"queue_name": ""}, ValueError, "queue_name must be a non-empty string"),
        ({"retry_backoff": 0}, ValueError, "retry_backoff must be a number, 1 or more"),
        ({"retry_on": "OSError"}, ValueError, "retry_on must be exception classes"),
        ({"args": "ab"}, TypeError, "args must be a tuple or list"),
        ({"kwargs": [1]}, TypeError, "kwargs must be a dict"),
        ({"args": (object(),)}, TypeError, "argument 'args\\[0\\]' can't be stored"),
    ],
)
def test_bad_schedule_options_fail_at_decoration(options, error, message):
    with pytest.raises(error, match=message):
        periodic_task(seconds=60, **options)
    with pytest.raises(error, match=message):
        cron_task(crontab="* * * * *", **options)


def test_schedule_arguments_must_fit_the_function():
    with pytest.raises(TypeError, match="args=\\(1,\\), kwargs=\\{\\} don't fit _two\\(a, b\\)"):
        periodic_task(seconds=60, args=(1,))(_two)
    with pytest.raises(TypeError, match="don't fit _two"):
        cron_task(crontab="* * * * *", kwargs={"c": 1})(_two)
    assert "tests.test_schedule_runs._two" not in schedules.REGISTRY
