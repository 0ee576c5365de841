"""What wait() raises, and the traceback a failure keeps: real workers, each database."""

import datetime as dt
import pickle

import pytest
from django.utils import timezone

import autotask
from autotask import TaskCancelled, TaskError, TaskNotFound, TaskTimeout, WorkerLost
from autotask.models import Task, Worker
from autotask.task import ERROR

from . import tasks, tasks_promises
from .conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def raised_by(handle, timeout=60):
    with pytest.raises(TaskError) as info:
        handle.wait(timeout=timeout)
    return info.value


def test_wait_raises_the_task_s_own_exception(processes):
    processes.worker()
    value_error = tasks_promises.raise_value_error("bad input")
    key_error = tasks_promises.raise_key_error("missing-key")
    quota = tasks_promises.raise_quota_exceeded("over quota")
    missing = tasks_promises.open_missing_file("/nonexistent/autotask-test")
    in_runner = tasks_promises.raise_in_runner("from the runner")

    with pytest.raises(ValueError) as info:
        value_error.wait(timeout=60)
    error = info.value
    assert isinstance(error, TaskError)
    assert (error.exception_class, error.message, str(error)) == ("builtins.ValueError", "bad input", "bad input")
    assert error.args == ("bad input",)
    assert "raise ValueError(message)" in error.traceback

    with pytest.raises(KeyError) as info:
        key_error.wait(timeout=60)
    assert isinstance(info.value, LookupError) and isinstance(info.value, TaskError)
    assert (info.value.exception_class, str(info.value)) == ("builtins.KeyError", "'missing-key'")

    with pytest.raises(tasks_promises.QuotaExceeded) as info:
        quota.wait(timeout=60)
    assert info.value.exception_class == "tests.tasks_promises.QuotaExceeded"
    assert isinstance(info.value, TaskError) and str(info.value) == "over quota"

    with pytest.raises(FileNotFoundError) as info:  # an OSError: C layout, combined with TaskError all the same
        missing.wait(timeout=60)
    assert isinstance(info.value, OSError) and isinstance(info.value, TaskError)
    assert "/nonexistent/autotask-test" in str(info.value)

    with pytest.raises(ValueError, match="from the runner") as info:
        in_runner.wait(timeout=60)
    assert "raise ValueError(message)" in info.value.traceback

    again = pickle.loads(pickle.dumps(error))  # e.g. across multiprocessing
    assert type(again) is type(error) and again.traceback == error.traceback


def test_an_exception_that_needs_two_arguments_is_a_plain_task_error(processes):
    processes.worker()
    error = raised_by(tasks_promises.raise_needs_two("two needed"))
    assert type(error) is TaskError  # its constructor is never called with stored data
    assert error.exception_class == "tests.tasks_promises.NeedsTwo"
    assert (error.message, str(error)) == ("two needed", "NeedsTwo: two needed")
    assert "raise NeedsTwo(message, 42)" in error.traceback


def test_stored_tracebacks_start_at_the_task_s_own_frames(processes):
    processes.worker()
    for handle in (tasks_promises.raise_value_error("x"), tasks_promises.raise_in_runner("y")):
        wait_until(lambda: handle.status == ERROR, 60, "the task to fail")
        lines = handle.traceback.splitlines()
        assert lines[0] == "Traceback (most recent call last):"
        assert "tests/tasks_promises.py" in lines[1], handle.traceback  # the first frame is the task's
        assert "autotask/" not in handle.traceback


def test_cancelled_timed_out_and_lost_tasks_raise_their_own_task_errors(processes):
    waiting = tasks.noop.using(delay=3600)()
    assert waiting.cancel()
    with pytest.raises(TaskCancelled, match="cancelled before it ran") as info:
        waiting.wait(timeout=1)
    assert info.value.exception_class == "autotask.exceptions.TaskCancelled"

    processes.worker()
    with pytest.raises(TaskTimeout, match="timed out after 0.5 s") as info:
        tasks.sleep_past_timeout(30).wait(timeout=60)
    assert info.value.exception_class == "autotask.exceptions.TaskTimeout"

    running = tasks.sleep_for(60, key="cancel-while-running")
    wait_until(lambda: running.status == "RUNNING", 60, "the task to start")
    running.cancel()
    with pytest.raises(TaskCancelled):
        running.wait(timeout=60)

    lost = _held_by_a_lost_worker()
    with pytest.raises(WorkerLost, match="was lost") as info:
        lost.wait(timeout=60)
    assert info.value.exception_class == "autotask.exceptions.WorkerLost"


def _held_by_a_lost_worker():
    """A task RUNNING on a worker of another host that stopped its heartbeat ten minutes ago."""
    now = timezone.now()
    gone = Worker.objects.create(host="gone-host", pid=4242, started_at=now, heartbeat_at=now - dt.timedelta(minutes=10))
    row = Task.objects.create(
        function="tests.tasks.noop", run_at=now, created_at=now, status="RUNNING", attempts=1, worker_id=gone.id,
        worker="gone-host:4242", started_at=now - dt.timedelta(minutes=10),
    )
    return autotask.tasks.DelayedTask(row.id)


def test_a_removed_record_raises_task_not_found(processes):
    processes.worker()
    handle = tasks.add(1, 2)
    assert handle.wait(timeout=60) == 3
    Task.objects.filter(pk=handle.id).delete()  # as the clean-up does after its ttl
    with pytest.raises(TaskNotFound, match="removed after its ttl"):
        handle.wait(timeout=1)
    with pytest.raises(LookupError):  # what wait() raised before: old code keeps working
        handle.wait(timeout=1)


def test_wait_says_when_no_worker_is_running(processes):
    handle = tasks.noop()
    with pytest.raises(TimeoutError) as info:
        handle.wait(timeout=0.1)
    message = str(info.value)
    assert "no worker is running" in message and "run_autotask" in message and "AUTOTASK_IS_ACTIVE" in message

    now = timezone.now()  # a worker that stopped beating counts as none
    Worker.objects.create(host="elsewhere", pid=1, started_at=now, heartbeat_at=now - dt.timedelta(hours=1))
    with pytest.raises(TimeoutError, match="no worker is running"):
        handle.wait(timeout=0.1)

    processes.worker(AUTOTASK_TEST_QUEUES="mail")
    wait_until(lambda: Worker.objects.filter(queues="mail").exists(), 60, "the mail worker to start")
    with pytest.raises(TimeoutError, match="no running worker takes its queue 'default' \\(they take mail\\)"):
        handle.wait(timeout=0.1)
    processes.worker()
    assert handle.wait(timeout=60) is None


def test_a_slow_task_s_timeout_says_nothing_of_workers(processes):
    processes.worker()
    handle = tasks.sleep_for(30, key="slow")
    wait_until(lambda: handle.status == "RUNNING", 60, "the task to start")
    with pytest.raises(TimeoutError) as info:
        handle.wait(timeout=0.1)
    assert str(info.value) == f"task {handle.id} did not finish within 0.1 s (status RUNNING)"
