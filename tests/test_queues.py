"""Queues, priorities and signals with real workers."""

import os
import signal

import pytest
from django.db import connection

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


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a dedicated worker hears of new tasks during a batch through PostgreSQL's notifications",
)
def test_a_high_priority_task_stored_during_a_batch_starts_before_the_rest_of_it(processes):
    # Tasks of 0.1 s, batched (QUICK_TASK raised): a batch of 30 would hold the worker for
    # about 3 s. A task of higher priority stored meanwhile must not wait for its end.
    batch = tasks_options.note_order_then_wait.bulk([("cut", f"low {i}", 0.1) for i in range(40)])
    processes.worker(AUTOTASK_TEST_QUICK_TASK="10")
    # The first claim takes 10 (QUICK_TASK over the 1 s a run is assumed to take at first),
    # the second the other 30.
    wait_until(lambda: Note.objects.filter(key="cut").count() >= 11, 60, "the batch of 30 to start")
    urgent = tasks_options.note_order_then_wait.using(priority=100)("cut", "urgent", 0)
    assert urgent.wait(timeout=60) == "urgent"
    ids = [h.id for h in batch]
    wait_until(lambda: not Task.objects.filter(pk__in=ids).exclude(status=DONE).exists(), 120, "the batch to end")
    order = list(Note.objects.filter(key="cut").order_by("created_at", "id").values_list("value", flat=True))
    assert "urgent" in order[:-1], order  # it did not wait for the end of the batch
    assert sorted(order) == sorted(["urgent", *[f"low {i}" for i in range(40)]])  # each ran once
    assert set(Task.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}  # handed back: no attempt lost


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
