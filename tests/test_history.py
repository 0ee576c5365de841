"""Every attempt kept: handle.attempts_history through failures, a killed worker and a runner."""

import json
import os
import signal

import pytest

from autotask import attempt_history
from autotask.models import Task
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

from . import tasks, tasks_promises
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_failed_attempts_and_a_killed_worker_are_all_kept(processes):
    first = processes.worker()
    second = processes.worker()
    handle = tasks_promises.fail_three_times_then_hang_once("kept")
    wait_until(lambda: Note.objects.filter(key="kept", value="4").exists(), 120, "attempt 4 to start")
    hanging = Note.objects.get(key="kept", value="4").pid
    running = handle.attempts_history
    assert [a.status for a in running] == [ERROR, ERROR, ERROR, RUNNING]
    assert running[-1].finished_at is None and running[-1].number == 4
    # The task runs in the worker process itself, in the process group of the run_worker we started.
    [victim] = [worker for worker in (first, second) if os.getpgid(hanging) == worker.pid]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)  # reaped: its pid is gone, so the other worker finds it lost at once
    assert handle.wait(timeout=120) == 5

    attempts = handle.attempts_history
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5]
    assert [a.status for a in attempts] == [ERROR, ERROR, ERROR, ERROR, DONE]
    assert [a.error_message for a in attempts[:3]] == [f"attempt {n} fails" for n in (1, 2, 3)]
    assert {a.exception_class for a in attempts[:3]} == {"builtins.RuntimeError"}
    assert all("raise RuntimeError" in a.traceback for a in attempts[:3])
    lost = attempts[3]
    assert lost.exception_class == "autotask.exceptions.WorkerLost" and "was lost while running" in lost.error_message
    assert lost.worker.endswith(f":{hanging}") and lost.traceback == ""
    assert attempts[4].worker != lost.worker and attempts[4].error_message == ""
    for earlier, later in zip(attempts, attempts[1:]):
        assert earlier.started_at <= earlier.finished_at <= later.started_at
    assert all(a.runner_pid is None for a in attempts)
    ran_in = dict(Note.objects.filter(key="kept").values_list("value", "pid"))  # each attempt notes its process
    assert [a.worker.rsplit(":", 1)[1] for a in attempts] == [str(ran_in[str(a.number)]) for a in attempts]

    stored = json.loads(Task.objects.get(pk=handle.id).history)  # the documented format
    assert len(stored) == 4 and set(stored[0]) == {
        "attempt", "started_at", "finished_at", "worker", "runner_pid", "status", "error_message",
        "exception_class", "traceback",
    }


def test_a_runner_s_pid_is_kept_with_each_attempt(processes):
    processes.worker()
    handle = tasks_promises.fail_once_in_runner("in-runner")
    runner = handle.wait(timeout=120)
    failed, succeeded = handle.attempts_history
    assert failed.runner_pid is not None and failed.status == ERROR
    assert succeeded.runner_pid == runner == handle.runner_pid  # the runner is kept between runs
    assert failed.worker == succeeded.worker


def test_a_task_that_ran_once_has_no_history(processes):
    processes.worker()
    handle = tasks.add(1, 2)
    assert handle.attempts_history == []  # not started yet
    assert handle.wait(timeout=60) == 3
    [attempt] = handle.attempts_history
    assert (attempt.number, attempt.status, attempt.worker) == (1, DONE, handle.worker)
    assert Task.objects.get(pk=handle.id).history is None


def test_a_task_waiting_for_its_retry_shows_only_its_failed_attempt(processes):
    processes.worker()
    handle = tasks_promises.fail_then_wait_an_hour("waits")
    wait_until(lambda: handle.attempts == 1 and handle.status == WAITING, 60, "the first attempt to fail")
    assert [a.status for a in handle.attempts_history] == [ERROR]
    assert handle.cancel()
    assert handle.status == CANCELLED
    assert [a.status for a in handle.attempts_history] == [ERROR]  # cancelled before its second attempt ran


def test_attempts_from_a_row():
    row = {
        "status": DONE, "history": None, "attempts": 1, "started_at": None, "finished_at": None, "worker": "",
        "runner_pid": None, "error_message": "", "exception_class": "", "traceback": "",
    }
    assert attempt_history.attempts(row) == []  # never started (cancelled before it ran)
