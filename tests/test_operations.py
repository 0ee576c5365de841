"""Actions on tasks and schedules (``autotask.operations``) against real workers."""

import pytest

from autotask import operations, schedules
from autotask.models import Schedule, Task
from autotask.task import CANCELLED, DONE, ERROR, RUNNING

from . import schedules_admin, tasks_admin  # noqa: F401  (schedules_admin registers its schedules)
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)

# Workers that would sleep an hour when idle: only a wake-up makes them see changed rows in time.
SLEEPY = dict(AUTOTASK_TEST_IDLE_TIME="3600", AUTOTASK_TEST_HEARTBEAT_INTERVAL="3600")


def row(handle):
    return Task.objects.get(pk=handle.id)


def test_a_running_task_cancelled_from_outside_is_stopped_by_its_worker(processes):
    processes.worker()
    handle = tasks_admin.work_slowly("slow")
    wait_until(lambda: Note.objects.filter(key="slow").exists(), 60, "the task to start")
    assert operations.cancel_tasks(Task.objects.filter(pk=handle.id)) == {"cancelled": 0, "stopping": 1, "finished": 0}
    wait_until(lambda: row(handle).status == CANCELLED, 60, "the worker to stop it")
    assert row(handle).error_message == "cancelled while running"
    assert operations.cancel_tasks(Task.objects.filter(pk=handle.id)) == {"cancelled": 0, "stopping": 0, "finished": 1}


def test_run_now_and_retry_wake_a_sleeping_worker(processes):
    processes.worker(**SLEEPY)
    failing = tasks_admin.fail_until_noted("fixed")
    wait_until(lambda: row(failing).status == ERROR, 60, "the task to fail")
    later = tasks_admin.due_in_an_hour(7)
    wait_until(lambda: Task.objects.filter(pk=later.id).exists(), 5)
    assert operations.run_tasks_now(Task.objects.filter(pk=later.id)) == {"moved": 1, "due": 0, "other": 0}
    assert later.wait(timeout=60) == 7
    Note.objects.create(key="fixed")
    assert operations.retry_tasks(Task.objects.filter(pk=failing.id)) == {"retried": 1, "other": 0}
    assert failing.wait(timeout=60) == "fixed"
    assert (row(failing).attempts, row(failing).error_message, row(failing).traceback) == (1, "", "")
    before, after = failing.attempts_history  # the failed attempt is kept across the retry
    assert (before.status, after.status) == (ERROR, DONE)
    assert before.exception_class and before.started_at < after.started_at


def test_an_extra_run_of_a_schedule_runs_once_and_keeps_its_next_due_time(processes):
    schedules.sync()  # as a worker's start does
    rarely = Schedule.objects.filter(function="tests.schedules_admin.rarely")
    next_run_at = rarely.get().next_run_at
    assert operations.run_schedules_now(rarely) == {"started": 1, "busy": 0, "stopped": 0}
    assert operations.run_schedules_now(rarely)["started"] == 0  # a second click while the run waits
    processes.worker(AUTOTASK_TEST_IMPORT="tests.schedules_admin", **SLEEPY)
    wait_until(lambda: Task.objects.filter(schedule__in=rarely, status=DONE).exists(), 60, "the extra run")
    assert Note.objects.filter(key="rarely").count() == 1
    schedule = rarely.get()
    assert schedule.next_run_at == next_run_at and schedule.last_status == DONE
    Schedule.objects.filter(pk=schedule.pk).update(active=False)
    assert operations.run_schedules_now(rarely) == {"started": 0, "busy": 0, "stopped": 1}
    assert not Task.objects.filter(schedule=schedule, status__in=(RUNNING,)).exists()
