"""Queues, priorities and signals with real workers."""

import os
import signal

import pytest

from autotask.models import Task
from autotask.task import DONE, ERROR, RUNNING, WAITING

from . import tasks, tasks_options
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_high_priority_task_overtakes_a_backlog(processes):
    backlog = tasks_options.note_order.bulk([("order", f"low {i}") for i in range(300)])
    urgent = tasks_options.note_order.using(priority=100)("order", "urgent")
    processes.worker()
    assert urgent.wait(timeout=60) == "urgent"
    ids = [h.id for h in backlog]
    wait_until(lambda: not Task.objects.filter(pk__in=ids).exclude(status=DONE).exists(), 120, "the backlog to drain")
    first = Note.objects.filter(key="order").order_by("created_at", "id").values_list("value", flat=True).first()
    assert first == "urgent"
    earliest_low = min(Task.objects.filter(pk__in=ids).values_list("started_at", flat=True))
    assert Task.objects.get(pk=urgent.id).started_at <= earliest_low


def test_a_worker_limited_to_a_queue_leaves_the_others_alone(processes):
    mail = tasks_options.send_mail("in mail")
    other = tasks.add(1, 2)  # queue "default"
    reports = tasks.add.using(queue_name="reports")(3, 4)
    processes.worker(AUTOTASK_TEST_QUEUES="mail,reports")
    assert mail.wait(timeout=60) == "in mail"
    assert reports.wait(timeout=60) == 7
    assert other.status == WAITING
    processes.worker(AUTOTASK_TEST_QUEUES="default")
    assert other.wait(timeout=60) == 3


def test_signals_in_the_worker_for_every_outcome(processes):
    ok, failed = tasks.add(1, 2), tasks.fail_with_value_error("no")
    retried = tasks.fail_twice_then_succeed("signals-retry")
    processes.worker(AUTOTASK_TEST_IMPORT="tests.signal_receivers")
    assert ok.wait(timeout=60) == 3
    wait_until(lambda: failed.status == ERROR and retried.status == DONE, 60, "the failing tasks to end")

    def notes(handle):
        return list(Note.objects.filter(key=f"signal:{handle.id}").order_by("id").values_list("value", flat=True))

    wait_until(lambda: len(notes(retried)) == 4, 30, "the signals of the retried task")
    assert notes(ok) == ["started tests.tasks.add", "finished DONE tests.tasks.add"]
    assert notes(failed) == ["started tests.tasks.fail_with_value_error", "finished ERROR tests.tasks.fail_with_value_error"]
    # three runs, one task_finished: a run to be retried has not finished the task
    assert notes(retried) == ["started tests.tasks.fail_twice_then_succeed"] * 3 + [
        "finished DONE tests.tasks.fail_twice_then_succeed"
    ]
    # the receivers that raise changed nothing
    assert ok.result == 3 and failed.error_message == "no"


def test_task_finished_for_a_task_whose_worker_was_lost(processes):
    handle = tasks.sleep_for(60, key="lost-signal")
    victim = processes.worker()
    wait_until(lambda: Note.objects.filter(key="lost-signal").exists(), 60, "the task to start")
    os.killpg(victim.pid, signal.SIGKILL)  # the worker process with its supervisor
    victim.wait(timeout=30)
    assert handle.status == RUNNING
    processes.worker(AUTOTASK_TEST_IMPORT="tests.signal_receivers")
    wait_until(lambda: handle.status == ERROR, 60, "the task to be recovered")
    wait_until(
        lambda: Note.objects.filter(key=f"signal:{handle.id}", value="finished ERROR tests.tasks.sleep_for").exists(),
        30, "task_finished from the recovering worker",
    )
