"""cancel() and the stop grace always stop a running task, even one that catches
Exception or blocks in C code, in the main thread or in another."""

import os
import signal

import pytest

from autotask import TaskError
from autotask.models import Task, Worker
from autotask.task import CANCELLED, RUNNING, WAITING

from . import tasks_execution as te
from .conftest import process_exists, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("threads", [1, 2], ids=["main-thread", "other-thread"])
def test_a_task_that_catches_exception_around_a_loop_is_cancelled(processes, threads):
    processes.worker(AUTOTASK_TEST_THREADS=str(threads))
    if threads == 2:
        holder = te.hold("holder")  # takes slot 0: the loop runs in the other thread
        wait_until(lambda: Note.objects.filter(key="holder").exists(), 120, "the holder to run")
    handle = te.loop_catching_exception("loop")
    wait_until(lambda: Note.objects.filter(key="loop").exists(), 120, "the loop to run")
    assert handle.cancel() is True
    with pytest.raises(TaskError, match="cancelled"):
        handle.wait(timeout=60)
    assert handle.status == CANCELLED and handle.result is None
    if threads == 2:
        Note.objects.create(key="release-holder")
        assert holder.wait(timeout=60) == "holder"


def test_a_task_blocked_in_c_is_cancelled_without_a_timeout_and_the_worker_goes_on(processes):
    pool = processes.worker(AUTOTASK_TEST_THREADS="2", AUTOTASK_TEST_INTERRUPT_GRACE="1")
    holder = te.hold("other")
    wait_until(lambda: Note.objects.filter(key="other").exists(), 120, "the other task to run")
    stuck = te.blocked_in_c("stuck")
    wait_until(lambda: Note.objects.filter(key="stuck").exists(), 120, "the blocked task to run")
    old = Note.objects.get(key="stuck").pid
    assert stuck.cancel() is True
    wait_until(lambda: stuck.status == CANCELLED, 60, "the blocked task to end CANCELLED")
    assert holder.status == RUNNING  # the other slot's task goes on...
    Note.objects.create(key="release-other")
    assert holder.wait(timeout=60) == "other"  # ...to its end, then the process is replaced
    wait_until(lambda: not process_exists(old), 60, "the process with the stuck thread to end")
    assert te.hold("after") and wait_until(lambda: Note.objects.filter(key="after").exclude(pid=old).exists(), 120,
                                           "a new process to run the next task")
    Note.objects.create(key="release-after")
    assert pool.poll() is None and Task.objects.get(pk=stuck.id).status == CANCELLED


def test_a_task_blocked_in_c_after_the_stop_grace_is_handed_back(processes):
    pool = processes.worker(AUTOTASK_TEST_STOP_GRACE="1", AUTOTASK_TEST_INTERRUPT_GRACE="1")
    handle = te.blocked_in_c_with_retries("deaf")
    wait_until(lambda: Note.objects.filter(key="deaf").exists(), 120, "the blocked task to run")
    os.kill(pool.pid, signal.SIGTERM)
    assert pool.wait(timeout=60) == 0
    row = Task.objects.get(pk=handle.id)
    assert row.status == WAITING and row.attempts == 0 and row.worker_id is None
    assert "handed back" in row.error_message
    assert not process_exists(Note.objects.get(key="deaf").pid)
    assert not Worker.objects.exists()
