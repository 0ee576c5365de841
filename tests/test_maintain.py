"""Keeping the table healthy, for real: a lost worker on another host, the clean-up after the ttl,
and failed tasks kept AUTOTASK_FAILED_TTL."""

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from autotask import queue
from autotask.models import Task, Worker
from autotask.task import CANCELLED, DONE, ERROR, RUNNING
from autotask.tasks import DelayedTask

from . import tasks, tasks_promises
from .conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WEEK = dt.timedelta(days=7)


def _running_on(host, heartbeat_age, retries):
    now = timezone.now()
    worker = Worker.objects.create(
        host=host, pid=4242, started_at=now - dt.timedelta(hours=1), heartbeat_at=now - heartbeat_age
    )
    task = Task.objects.create(
        function="tests.tasks.add", arguments='{"args":[2,3],"kwargs":{}}', run_at=now, created_at=now,
        status=RUNNING, attempts=1, retries=retries, worker_id=worker.id, worker=f"{host}:4242",
        started_at=now - heartbeat_age,
    )
    return worker, task


def test_a_task_of_a_worker_on_another_host_that_stopped_its_heartbeat_is_recovered(processes):
    # Another host's pid can't be looked up: only the heartbeat, older than AUTOTASK_WORKER_LOST_AFTER (60 s), tells.
    lost_worker, retried = _running_on("other-host-a", dt.timedelta(minutes=10), retries=1)
    _, doomed = _running_on("other-host-b", dt.timedelta(minutes=10), retries=0)
    alive_worker, alive = _running_on("other-host-c", dt.timedelta(seconds=1), retries=1)
    processes.worker()
    wait_until(lambda: Task.objects.get(pk=retried.pk).status == DONE, 60, "the lost worker's task to run again")
    retried.refresh_from_db()
    assert (retried.result, retried.attempts, retried.losses) == ("5", 2, 1)
    assert retried.worker != "other-host-a:4242"
    [lost_attempt, _] = DelayedTask(retried.pk).attempts_history
    assert lost_attempt.worker == "other-host-a:4242" and "was lost while running" in lost_attempt.error_message

    doomed.refresh_from_db()
    assert doomed.status == ERROR and doomed.exception_class == "autotask.exceptions.WorkerLost"
    assert "worker other-host-b:4242 was lost while running this task" in doomed.error_message
    assert doomed.expires_at >= doomed.finished_at + WEEK  # AUTOTASK_FAILED_TTL

    assert not Worker.objects.filter(host__in=["other-host-a", "other-host-b"]).exists()
    assert Worker.objects.filter(pk=alive_worker.pk).exists()  # its heartbeat is fresh: not lost
    assert Task.objects.get(pk=alive.pk).status == RUNNING


def _finished(status, expires_in):
    now = timezone.now()
    return Task.objects.create(
        function="tests.tasks.noop", run_at=now, created_at=now, status=status, finished_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )


def test_the_clean_up_removes_exactly_the_expired_records():
    expired = [_finished(DONE, -dt.timedelta(seconds=1)), _finished(ERROR, -dt.timedelta(seconds=1))]
    kept = [_finished(DONE, dt.timedelta(minutes=5)), _finished(ERROR, None), _finished(CANCELLED, WEEK)]
    waiting = Task.objects.create(function="tests.tasks.noop", run_at=timezone.now(), created_at=timezone.now())
    assert queue.delete_expired(chunk=1) == 2  # chunk=1: one transaction per record
    remaining = set(Task.objects.values_list("pk", flat=True))
    assert remaining == {task.pk for task in kept} | {waiting.pk}
    assert not remaining & {task.pk for task in expired}


def test_a_worker_cleans_up_after_the_ttl_but_keeps_failed_tasks(processes):
    processes.worker(AUTOTASK_TEST_CLEAN_INTERVALL="0.2")
    failed = tasks_promises.fail_at_once()  # ttl=0, but failed: kept AUTOTASK_FAILED_TTL
    with pytest.raises(RuntimeError):
        failed.wait(timeout=60)
    done = tasks_promises.done_at_once()  # ttl=0: removed by the next clean-up
    wait_until(lambda: done.status is None, 60, "the done task's record to be removed")
    row = Task.objects.get(pk=failed.id)
    assert row.status == ERROR and row.expires_at == row.finished_at + WEEK


def test_failed_ttl_for_every_way_a_task_ends(processes):
    processes.worker()
    long_ttl = tasks.fail_with_value_error.using(ttl=30 * 86400)("keeps its own ttl")
    with pytest.raises(ValueError):
        long_ttl.wait(timeout=60)
    row = Task.objects.get(pk=long_ttl.id)
    assert row.expires_at == row.finished_at + dt.timedelta(days=30)  # its own ttl is longer

    done = Task.objects.get(pk=tasks.add(1, 1).id)
    DelayedTask(done.pk).wait(timeout=60)
    done.refresh_from_db()
    assert done.expires_at == done.finished_at + dt.timedelta(seconds=300)  # DONE: its ttl

    cancelled = tasks.noop.using(delay=3600)()
    cancelled.cancel()
    row = Task.objects.get(pk=cancelled.id)
    assert row.expires_at == row.finished_at + WEEK

    with override_settings(AUTOTASK_FAILED_TTL=None):  # kept for good
        kept = tasks.noop.using(delay=3600)()
        kept.cancel()
        assert Task.objects.get(pk=kept.id).expires_at is None
        assert queue.delete_expired() == 0


def test_failed_ttl_setting_is_checked(settings):
    from autotask.checks import check_settings

    settings.AUTOTASK_FAILED_TTL = "a week"
    assert [error.id for error in check_settings(None)] == ["autotask.E001"]
    settings.AUTOTASK_FAILED_TTL = None
    assert check_settings(None) == []
