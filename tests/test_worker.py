"""Real worker processes against the test database: claim, run, record."""

import os
import re
import signal

import pytest
from django.db import transaction

from autotask import TaskError
from autotask.models import Task, Worker
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

from . import tasks
from .conftest import process_exists, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_workers(count, timeout=60):
    wait_until(lambda: Worker.objects.count() >= count, timeout, f"{count} worker(s) to register")


def test_runs_a_task_and_records_the_run(processes):
    processes.worker()
    handle = tasks.add(2, 3)
    assert handle.wait(timeout=60) == 5
    assert handle.status == DONE
    assert handle.ready is True
    assert handle.result == 5
    assert handle.attempts == 1
    assert handle.started_at <= handle.finished_at
    host, pid = handle.worker.rsplit(":", 1)
    assert int(pid) > 0 and host
    row = Task.objects.get(pk=handle.id)
    assert row.expires_at > row.finished_at


@pytest.mark.parametrize("how", ["single", "bulk"])
def test_new_work_wakes_an_idle_worker_long_before_its_idle_time(processes, how):
    # Nothing but the wake-up (LISTEN/NOTIFY, SQLite's data_version, MySQL's index poll)
    # can start these tasks within the deadline: the worker would sleep an hour.
    worker = processes.worker(
        AUTOTASK_TEST_IDLE_TIME="3600", AUTOTASK_TEST_HEARTBEAT_INTERVAL="3600", AUTOTASK_LOG_LEVEL="DEBUG"
    )
    assert tasks.add(1, 1).wait(timeout=60) == 2
    wait_until(lambda: re.search(r"idle for up to \d{4}", processes.log(worker)), message="the worker to go idle")
    handles = [tasks.add(2, 3)] if how == "single" else tasks.add.bulk([(2, 3), (4, 5)])
    assert [handle.wait(timeout=60) for handle in handles] == [5, 9][: len(handles)]


def test_result_types_round_trip_through_the_worker(processes):
    processes.worker()
    result = tasks.return_types().wait(timeout=60)
    assert result["t"] == (1, 2) and result["s"] == {3}
    assert result["when"].year == 2026


def test_failure_records_class_message_and_traceback(processes):
    processes.worker()
    handle = tasks.fail_with_value_error("broken input")
    with pytest.raises(TaskError) as info:
        handle.wait(timeout=60)
    assert info.value.exception_class == "builtins.ValueError"
    assert info.value.message == "broken input"
    assert "raise ValueError(message)" in info.value.traceback
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "broken input"  # as the task's own exception's str()
    assert handle.status == ERROR
    assert handle.error_message == "broken input"
    assert "Traceback" in handle.traceback


def test_retries_until_success(processes):
    processes.worker()
    handle = tasks.fail_twice_then_succeed("retry-key")
    assert handle.wait(timeout=60) == "third time lucky"
    assert handle.attempts == 3
    assert Note.objects.filter(key="retry-key").count() == 3


def test_retries_are_spaced_by_retry_delay(processes, settings):
    processes.worker()
    handle = tasks.fail_twice_then_succeed("spaced")
    handle.wait(timeout=60)
    times = list(Note.objects.filter(key="spaced").order_by("created_at").values_list("created_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert all(gap >= 0.2 for gap in gaps), gaps  # AUTOTASK_RETRY_DELAY = 0.2 in tests


def test_progress_and_current_task(processes):
    processes.worker()
    handle = tasks.report_progress()
    result = handle.wait(timeout=60)
    assert result == {"id": str(handle.id), "progress": 50}  # read inside the task, while it ran
    assert handle.progress == 100  # once DONE, whatever it reported before


def test_missing_function_and_bad_data_end_in_error_and_the_worker_goes_on(processes):
    processes.worker()
    from django.utils import timezone

    gone = Task.objects.create(function="tests.tasks.no_such_function", run_at=timezone.now(), created_at=timezone.now())
    nomodule = Task.objects.create(function="tests.no_such_module.f", run_at=timezone.now(), created_at=timezone.now())
    garbage = Task.objects.create(function="tests.tasks.noop", arguments="{oops", run_at=timezone.now(), created_at=timezone.now())
    after = tasks.add(1, 1)
    assert after.wait(timeout=60) == 2
    for row, text in [(gone, "no longer exists"), (nomodule, "no longer exists"), (garbage, "can't be read")]:
        wait_until(lambda: Task.objects.get(pk=row.pk).status == ERROR, 60, "the bad row to end ERROR")
        assert text in Task.objects.get(pk=row.pk).error_message


def test_unstorable_result_is_an_error(processes):
    processes.worker()
    with pytest.raises(TaskError, match="can't be stored"):
        tasks.return_unstorable().wait(timeout=60)


def test_delay_is_respected(processes):
    processes.worker()
    handle = tasks.delayed_record("later")
    row = Task.objects.get(pk=handle.id)
    handle.wait(timeout=60)
    started = Task.objects.get(pk=handle.id).started_at
    assert (started - row.created_at).total_seconds() >= 1.5


@pytest.mark.parametrize("mode", ["process", "signal"])
def test_timeout_stops_the_run_and_the_worker_lives_on(processes, mode):
    processes.worker(AUTOTASK_TEST_TIMEOUT_MODE=mode)
    handle = tasks.sleep_past_timeout(30)
    with pytest.raises(TaskError, match="timed out after 0.5 s"):
        handle.wait(timeout=60)
    assert handle.status == ERROR
    assert tasks.add(2, 2).wait(timeout=60) == 4


def test_cancel_a_running_task(processes):
    processes.worker()
    handle = tasks.sleep_for(60, key="cancel-me")
    wait_until(lambda: handle.status == RUNNING and Note.objects.filter(key="cancel-me").exists(), 60, "the task to run")
    assert handle.cancel() is True
    wait_until(lambda: handle.status == CANCELLED, 60, "the task to be cancelled")
    assert tasks.add(1, 2).wait(timeout=60) == 3


def test_three_workers_run_a_thousand_tasks_exactly_once(processes):
    for _ in range(3):
        processes.worker()
    wait_for_workers(3)
    handles = tasks.record.bulk([(f"k{i}",) for i in range(1000)])
    wait_until(lambda: Task.objects.filter(status=DONE).count() == 1000, 300, "1000 tasks to finish", interval=0.2)
    assert Note.objects.count() == 1000
    assert Note.objects.values("key").distinct().count() == 1000
    assert set(Task.objects.values_list("attempts", flat=True)) == {1}
    assert len({h.id for h in handles}) == 1000


def test_killed_worker_mid_task_is_recovered_by_another(processes):
    victim = processes.worker()
    handle = tasks.sleep_for_with_retry(3, key="survivor")
    wait_until(lambda: Note.objects.filter(key="survivor").exists(), 60, "the task to start")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    processes.worker()
    assert handle.wait(timeout=120) == 3
    row = Task.objects.get(pk=handle.id)
    assert row.losses == 1 and row.attempts == 2
    assert Note.objects.filter(key="survivor").count() == 2


def test_killed_worker_without_retries_ends_error_saying_so(processes):
    victim = processes.worker()
    handle = tasks.sleep_for(30, key="doomed")
    wait_until(lambda: Note.objects.filter(key="doomed").exists(), 60, "the task to start")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    processes.worker()
    wait_until(lambda: handle.status == ERROR, 120, "the lost task to end ERROR")
    assert "was lost" in handle.error_message


def test_a_killed_worker_s_batch_runs_again_none_started_ends_error(processes):
    """Quick tasks are claimed in batches: after a kill -9, the batch's tasks that
    never started (or whose outcome wasn't written yet) run again, retries or not.
    "Quick" is 10 s here, so that a loaded machine's slow runs still come in one batch."""
    victim = processes.worker(AUTOTASK_TEST_QUICK_TASK="10")
    tasks.noop().wait(timeout=60)  # a quick run, so the next claim takes a batch
    with transaction.atomic():  # stored at once: one claim takes them all
        first = tasks.record("before")
        slow = tasks.sleep_for(3, key="batch-slow")
        rest = [tasks.record(f"after-{i}") for i in range(3)]
    wait_until(lambda: Note.objects.filter(key="batch-slow").exists(), 60, "the slow task to start")
    held = Task.objects.filter(status=RUNNING).count()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    processes.worker()
    handles = [first, slow, *rest]
    wait_until(lambda: all(h.ready for h in handles), 120, "the batch to be settled")
    assert [h.status for h in handles] == [DONE] * 5
    assert held > 1  # it was a batch
    assert Note.objects.filter(key__startswith="after-").count() == 3


def test_the_rest_of_a_batch_that_met_a_slow_task_keeps_its_place_in_line(processes):
    """A batch that meets a slow task hands its other tasks back; they are back in line
    before the next claim, so tasks stored after them don't overtake them."""
    processes.worker()
    tasks.noop().wait(timeout=60)  # a quick run, so the next claim takes a full batch
    with transaction.atomic():  # stored at once, oldest first: one claim takes the first 64
        tasks.record("line", "0")
        tasks.sleep_for(0.2, key="line-slow")
        handles = [tasks.record("line", str(i)) for i in range(2, 100)]
    wait_until(lambda: all(h.ready for h in handles), 120, "the tasks to run")
    order = [int(value) for value in Note.objects.filter(key="line").order_by("id").values_list("value", flat=True)]
    assert order == [0, *range(2, 100)]


def test_sigterm_lets_the_running_task_finish(processes):
    worker = processes.worker()
    handle = tasks.sleep_for(2, key="finish-me")
    wait_until(lambda: Note.objects.filter(key="finish-me").exists(), 60, "the task to start")
    queued = tasks.noop.bulk([()] * 3)
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert handle.status == DONE
    assert all(h.status == WAITING for h in queued)  # nothing new was claimed
    assert not Worker.objects.exists()


@pytest.mark.parametrize("threads", ["1", "4"])
def test_sigterm_during_a_drain_of_quick_tasks_records_every_run_and_hands_back_the_rest(processes, threads):
    """A lone slot's quick runs are recorded by the loop while the slot goes on (on
    PostgreSQL), or by the slot itself; slots of several get their next batch ahead. A
    stop in the middle of a drain still writes every run that happened, once, and hands
    back what never started, batches ahead too."""
    worker = processes.worker(AUTOTASK_TEST_THREADS=threads)
    handles = tasks.record.bulk([(f"drain-{i}",) for i in range(5000)])
    wait_until(lambda: Note.objects.count() >= 300, 120, "the drain to be under way")
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    done = Task.objects.filter(status=DONE)
    assert Task.objects.exclude(status__in=[DONE, WAITING]).count() == 0
    assert done.count() == Note.objects.count() >= 300  # each run that happened, recorded
    assert Note.objects.values("key").distinct().count() == Note.objects.count()  # and run once
    assert set(done.values_list("attempts", flat=True)) == {1}
    waiting = Task.objects.filter(status=WAITING)
    assert waiting.count() == len(handles) - done.count()
    assert set(waiting.values_list("attempts", flat=True)) <= {0}  # handed back: those runs don't count


def test_worker_waits_for_missing_tables(processes):
    """A worker started before migrate waits and says why instead of crashing."""
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.delete_model(Worker)
    try:
        worker = processes.worker()
        wait_until(lambda: "tables are missing" in processes.log(worker), 60, "the worker to log the missing tables")
        assert worker.poll() is None
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(Worker)
    wait_until(lambda: Worker.objects.exists(), 60, "the worker to start once the tables exist")
    assert "tables exist now" not in processes.log(worker)  # good news: INFO, below the tests' WARNING level


@pytest.mark.parametrize("task", [tasks.sleep_for, tasks.deaf_within_timeout], ids=["in-worker", "in-runner"])
def test_a_task_still_running_after_the_stop_grace_is_handed_back(processes, task):
    worker = processes.worker(AUTOTASK_TEST_STOP_GRACE="1")
    handle = task(600, key="too-long")
    wait_until(lambda: Note.objects.filter(key="too-long").exists(), 60, "the task to start")
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    row = Task.objects.get(pk=handle.id)
    assert row.status == WAITING and row.attempts == 0 and row.worker_id is None
    assert "handed back" in row.error_message
    assert not process_exists(Note.objects.get(key="too-long").pid)  # the runner, if any, is killed


def test_a_worker_replaces_itself_after_max_tasks_without_losing_or_doubling(processes):
    pool = processes.worker(AUTOTASK_TEST_MAX_TASKS="5")
    tasks.record.bulk([(f"m{i}",) for i in range(12)])
    wait_until(lambda: Task.objects.filter(status=DONE).count() == 12, 120, "all 12 tasks")
    assert Note.objects.count() == 12 and Note.objects.values("key").distinct().count() == 12
    assert not Task.objects.exclude(status=DONE).exists()
    pids = Note.objects.values_list("pid", flat=True)
    assert len(set(pids)) >= 3 and all(list(pids).count(pid) <= 5 for pid in set(pids))  # its supervisor started new ones
    assert pool.poll() is None
