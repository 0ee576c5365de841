"""Tasks with a timeout run in the worker's runner process: a timeout or a cancel
kills that process, whatever the task is doing, and never the worker."""

import os
import signal

import pytest

from autotask import TaskError
from autotask.models import Worker
from autotask.task import CANCELLED, ERROR, RUNNING

from . import tasks
from .conftest import process_exists, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_with_a_timeout_runs_in_a_runner_process_that_is_kept(processes):
    worker = processes.worker()
    handle = tasks.runner_pid("first")
    first = handle.wait(timeout=60)
    second = tasks.runner_pid("second").wait(timeout=60)
    assert first == second != worker.pid
    assert Note.objects.get(key="first").value == str(handle.id)  # current_task() works there
    assert tasks.add(1, 1).wait(timeout=60) == 2  # tasks without a timeout run in the worker itself


def test_a_runner_above_the_memory_limit_is_replaced(processes):
    worker = processes.worker(AUTOTASK_TEST_MAX_MEMORY_MB="200")  # the worker itself stays far below
    first = tasks.runner_pid("before").wait(timeout=60)
    assert tasks.runner_pid("still").wait(timeout=60) == first
    tasks.keep_memory(300).wait(timeout=60)
    replaced = tasks.runner_pid("after").wait(timeout=60)
    assert replaced != first and not process_exists(first)
    assert worker.poll() is None and tasks.add(1, 2).wait(timeout=60) == 3


def test_a_timeout_stops_code_that_ignores_signals(processes):
    worker = processes.worker()
    handle = tasks.deaf_past_timeout(600, key="deaf")
    with pytest.raises(TaskError, match="timed out after 4 s"):
        handle.wait(timeout=60)
    assert handle.status == ERROR
    runner = Note.objects.get(key="deaf").pid
    assert runner != worker.pid and not process_exists(runner)
    assert tasks.add(2, 2).wait(timeout=60) == 4
    assert worker.poll() is None


def test_cancel_stops_code_that_ignores_signals(processes):
    worker = processes.worker()
    handle = tasks.deaf_within_timeout(600, key="deaf-cancel")
    wait_until(lambda: handle.status == RUNNING and Note.objects.filter(key="deaf-cancel").exists(), 60, "the task to run")
    assert handle.cancel() is True
    wait_until(lambda: handle.status == CANCELLED, 60, "the task to be cancelled")
    assert not process_exists(Note.objects.get(key="deaf-cancel").pid)
    assert tasks.runner_pid("after").wait(timeout=60) != worker.pid  # a new runner takes over


def test_a_task_that_ends_its_process_is_an_error_and_the_worker_goes_on(processes):
    worker = processes.worker()
    handle = tasks.exit_process(7, key="exit")
    with pytest.raises(TaskError, match=r"the task's process died \(exit code 7\)"):
        handle.wait(timeout=60)
    assert handle.status == ERROR
    assert tasks.runner_pid("after").wait(timeout=60) != worker.pid
    assert worker.poll() is None


def test_the_runner_of_a_killed_worker_ends_by_itself(processes):
    processes.worker()
    tasks.deaf_within_timeout(600, key="orphan")
    wait_until(lambda: Note.objects.filter(key="orphan").exists(), 60, "the task to start")
    runner = Note.objects.get(key="orphan").pid
    os.kill(Worker.objects.get().pid, signal.SIGKILL)  # the worker process, not its supervisor
    wait_until(lambda: not process_exists(runner), 60, "the orphaned runner to end")
