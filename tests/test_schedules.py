"""Periodic and cron schedules: stored once, each due time run once, missed runs coalesced."""

import datetime as dt
import io
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from autotask import schedules, timeutil
from autotask.cron import CronSchedule
from autotask.models import Schedule, Task
from autotask.task import DONE, ERROR, RUNNING

from . import schedule_tasks
from .conftest import ROOT, subprocess_env, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = {
    "tests.schedule_tasks.every_second",
    "tests.schedule_tasks.every_minute",
    "tests.schedule_tasks.failing_every_second",
}


def test_decorators_register_in_memory_only():
    assert FIXTURES <= set(schedules.REGISTRY)
    assert Schedule.objects.count() == 0
    assert schedule_tasks.every_second.__name__ == "every_second"  # the function itself, not a wrapper


def test_sync_stores_one_row_per_schedule_and_is_idempotent():
    schedules.sync()
    schedules.sync()
    rows = {s.function: s for s in Schedule.objects.all()}
    assert FIXTURES <= set(rows)
    assert len(rows) == len(schedules.REGISTRY)
    assert rows["tests.schedule_tasks.every_minute"].expression == "crontab '* * * * *'"
    assert rows["tests.schedule_tasks.every_minute"].timezone == "Europe/Berlin"


def test_five_processes_starting_at_once_store_each_schedule_once(processes):
    start_at = time.time() + 3
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.run_sync", str(start_at)], cwd=ROOT, env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(5)
    ]
    processes.started.extend(procs)
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all("synced" in out for out in outputs), outputs
    for function in FIXTURES:
        assert Schedule.objects.filter(function=function).count() == 1


def test_restart_keeps_next_due_time_and_a_change_resets_it():
    schedules.sync()
    path = "tests.schedule_tasks.every_minute"
    before = Schedule.objects.get(function=path).next_run_at
    schedules.sync()
    assert Schedule.objects.get(function=path).next_run_at == before
    original = schedules.REGISTRY[path]
    try:
        schedules.register_cron(path, CronSchedule(crontab="0 3 * * *"))
        schedules.sync()
        row = Schedule.objects.get(function=path)
        assert row.expression == "crontab '0 3 * * *'"
        assert timezone.localtime(timeutil.aware(row.next_run_at)).hour == 3
    finally:
        schedules.REGISTRY[path] = original


def test_a_schedule_whose_function_is_gone_stops_and_keeps_its_history():
    gone = Schedule.objects.create(
        function="tests.schedule_tasks.removed_function", kind="periodic", expression="every 5 s", signature="x",
        next_run_at=timezone.now(),
    )
    Task.objects.create(function=gone.function, schedule=gone, due_at=timezone.now(), run_at=timezone.now(),
                        created_at=timezone.now(), status=DONE)
    schedules.sync()
    gone.refresh_from_db()
    assert gone.active is False
    assert "no longer exists" in gone.last_error
    assert gone.runs.count() == 1
    schedules.claim_due(timezone.now() + dt.timedelta(hours=1))
    assert gone.runs.count() == 1  # a stopped schedule makes no new runs


def _make_due(path, when):
    Schedule.objects.filter(function=path).update(next_run_at=when)


def test_each_due_time_is_claimed_once():
    schedules.sync()
    path = "tests.schedule_tasks.every_minute"
    due = timezone.now() - dt.timedelta(seconds=5)
    _make_due(path, due)
    now = timezone.now()
    first, _ = schedules.claim_due(now)
    second, _ = schedules.claim_due(now)
    runs = Task.objects.filter(schedule__function=path)
    assert runs.count() == 1
    assert runs.get().due_at == due
    # the next due time after ``now`` (the one after ``due`` unless a minute began in between)
    following = schedules.REGISTRY[path].next_after(timeutil.aware(due), timeutil.aware(now))
    assert timeutil.aware(Schedule.objects.get(function=path).next_run_at) == following


def test_after_downtime_a_missed_schedule_runs_once():
    schedules.sync()
    path = "tests.schedule_tasks.every_second"
    _make_due(path, timezone.now() - dt.timedelta(hours=2))
    now = timezone.now()
    schedules.claim_due(now)
    schedules.claim_due(now)
    assert Task.objects.filter(schedule__function=path).count() == 1
    following = Schedule.objects.get(function=path).next_run_at
    assert now < following <= now + dt.timedelta(seconds=1)  # the missed due times were skipped


def test_a_due_time_waits_while_the_previous_run_is_unfinished():
    schedules.sync()
    path = "tests.schedule_tasks.every_minute"
    _make_due(path, timezone.now() - dt.timedelta(seconds=1))
    schedules.claim_due(timezone.now())
    Task.objects.filter(schedule__function=path).update(status=RUNNING)
    _make_due(path, timezone.now() - dt.timedelta(seconds=1))
    created, waiting = schedules.claim_due(timezone.now())
    assert created == 0 and waiting is True
    assert Task.objects.filter(schedule__function=path).count() == 1


def test_next_runs_api():
    after = dt.datetime(2026, 3, 28, 12, tzinfo=dt.timezone.utc)
    runs = schedules.next_runs("tests.schedule_tasks.every_minute", 3, after=after)
    assert [r.minute for r in runs] == [1, 2, 3]
    assert schedules.next_runs(schedule_tasks.every_second, 2, after=after) == [
        after + dt.timedelta(seconds=1), after + dt.timedelta(seconds=2)
    ]
    with pytest.raises(LookupError):
        schedules.next_runs("tests.tasks.noop")


def test_schedules_command_lists_every_schedule():
    schedules.sync()
    out = io.StringIO()
    call_command("autotask_schedules", stdout=out)
    text = out.getvalue()
    for function in FIXTURES:
        assert function in text
    assert "crontab '* * * * *'" in text and "Europe/Berlin" in text
    assert "when: every minute" in text and "when: every second" in text


@pytest.mark.parametrize(
    "spec",
    [
        schedules.ScheduleSpec("x", schedules.PERIODIC, seconds=900),
        schedules.ScheduleSpec("x", schedules.PERIODIC, seconds=0.25),
        schedules.ScheduleSpec("x", schedules.CRON, cron=CronSchedule(crontab="30 7 0 * *", timezone="Europe/Berlin")),
        schedules.ScheduleSpec("x", schedules.CRON, cron=CronSchedule(cron="0 12 L * *", timezone="America/New_York")),
        schedules.ScheduleSpec("x", schedules.CRON, cron=CronSchedule(cron="*/5 9-17 * * mon-fri", timezone="UTC")),
    ],
    ids=lambda spec: spec.expression,
)
def test_a_stored_schedule_describes_itself_from_its_signature(spec):
    after = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    back = schedules.ScheduleSpec.from_signature("x", spec.signature)
    assert back.signature == spec.signature and back.describe(after) == spec.describe(after)
    row = Schedule(function="not.imported.anywhere", kind=spec.kind, signature=spec.signature)
    assert row.describe() == spec.describe()
    assert schedules.ScheduleSpec.from_signature("x", "cron:0 0 * * * tz=Nowhere/Atlantis") is None


def test_the_admin_shows_each_schedule_in_words(admin_client):
    for function, spec in [
        ("app.tasks.newsletter", schedules.ScheduleSpec("x", schedules.CRON, cron=CronSchedule(crontab="30 7 0 * *"))),
        ("app.tasks.poll", schedules.ScheduleSpec("x", schedules.PERIODIC, seconds=300)),
    ]:
        Schedule.objects.create(function=function, kind=spec.kind, expression=spec.expression, signature=spec.signature)
    page = admin_client.get("/admin/autotask/schedule/").content.decode()
    assert "Mondays at 07:30" in page and "every 5 minutes" in page and "When" in page


def test_three_workers_run_each_due_time_once_and_a_failing_schedule_goes_on(processes):
    for _ in range(3):
        processes.worker(AUTOTASK_TEST_IMPORT="tests.schedule_tasks")
    runs = Task.objects.filter(schedule__function="tests.schedule_tasks.every_second")
    wait_until(lambda: runs.filter(status=DONE).count() >= 6, 120, "six runs of the 1-second schedule")
    failing = Task.objects.filter(schedule__function="tests.schedule_tasks.failing_every_second")
    wait_until(lambda: failing.filter(status=ERROR).count() >= 3, 120, "the failing schedule to keep running")
    dues = sorted(runs.filter(status=DONE).values_list("due_at", flat=True))
    assert len(dues) == len(set(dues)), "a due time ran twice"
    gaps = {(b - a).total_seconds() for a, b in zip(dues, dues[1:])}
    assert gaps == {1.0}, f"due times skipped or off the fixed rate: {gaps}"
    assert Note.objects.filter(key="every_second").count() == runs.filter(status=DONE).count()
    row = Schedule.objects.get(function="tests.schedule_tasks.failing_every_second")
    assert row.last_status == ERROR and "scheduled failure" in row.last_error and row.active


@pytest.mark.skipif(not __import__("os").environ.get("AUTOTASK_TEST_SLOW"), reason="takes two minutes: AUTOTASK_TEST_SLOW=1")
def test_three_workers_run_each_minute_of_a_cron_schedule_once(processes):
    for _ in range(3):
        processes.worker(AUTOTASK_TEST_IMPORT="tests.schedule_tasks")
    runs = Task.objects.filter(schedule__function="tests.schedule_tasks.every_minute")
    wait_until(lambda: runs.filter(status=DONE).count() >= 2, 200, "two runs of the every-minute cron", interval=0.5)
    dues = sorted(runs.filter(status=DONE).values_list("due_at", flat=True))
    assert len(dues) == len(set(dues)), "a due time ran twice"
    assert all(d.second == 0 and d.microsecond == 0 for d in dues)
    assert {(b - a).total_seconds() for a, b in zip(dues, dues[1:])} == {60.0}
    assert Note.objects.filter(key="every_minute").count() == runs.filter(status=DONE).count()
    lateness = [(r.started_at - r.due_at).total_seconds() for r in runs.filter(status=DONE)]
    assert all(0 <= late < 30 for late in lateness), lateness
