"""Dependencies between tasks (``func.using(after=[...])``): stored, settled, cancelled, with real workers."""

import uuid

import pytest
from django.db import transaction

from autotask.models import Task, TaskDependency
from autotask.task import BLOCKED, CANCELLED, DONE, ERROR, RUNNING, WAITING
from autotask.tasks import DelayedTask

from . import tasks_dependencies as t
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def stored(handle):
    return Task.objects.get(pk=handle.id)


def labels(key):
    return list(Note.objects.filter(key=key).order_by("id").values_list("value", flat=True))


def finished(*handles, timeout=90):
    wait_until(lambda: all(h.ready for h in handles), timeout=timeout, message=f"{len(handles)} tasks to finish")


# -- stored, without a worker ------------------------------------------------------------


def test_a_dependent_waits_blocked_and_shows_waiting():
    first = t.step("k", "a")
    then = t.step.using(after=[first])("k", "b")
    assert stored(then).status == BLOCKED and stored(then).dependencies_left == 1
    assert then.status == WAITING and then.ready is False
    assert then.dependencies == [first] and first.dependents == [then]
    assert stored(first).has_dependents and not stored(then).has_dependents
    assert not Task.objects.due(stored(then).run_at).filter(pk=then.id).exists()  # the claim never sees it


def test_after_takes_handles_ids_and_strings():
    a, b, c = t.step("k", "a"), t.step("k", "b"), t.step("k", "c")
    then = t.step.using(after=[a, b.id, str(c.id)])("k", "d")
    assert then.dependencies == [a, b, c]
    assert stored(then).dependencies_left == 3


def test_a_dependency_already_done_is_satisfied_at_once():
    first = t.step("k", "a")
    Task.objects.filter(pk=first.id).update(status=DONE)
    then = t.step.using(after=[first])("k", "b")
    assert stored(then).status == WAITING and stored(then).dependencies_left == 0


@pytest.mark.parametrize("status", [ERROR, CANCELLED])
def test_a_dependency_already_failed_cancels_at_once(status):
    first = t.step("k", "a")
    Task.objects.filter(pk=first.id).update(status=status)
    then = t.step.using(after=[first])("k", "b")
    assert then.status == CANCELLED
    assert then.error_message == f"cancelled: its dependency {first.id} (tests.tasks_dependencies.step) ended {status}"


@pytest.mark.parametrize(
    "after, error, message",
    [
        ([42], TypeError, "after= takes task handles or task ids, got 42"),
        (["not an id"], TypeError, "after= takes task handles or task ids, got 'not an id'"),
        ("0d4c2a5e-7b33-4b8e-9d1f-4b1d0d5e2a11", TypeError, "after= takes a list"),
    ],
)
def test_bad_after_fails_at_using(after, error, message):
    with pytest.raises(error, match=message):
        t.step.using(after=after)
    assert not Task.objects.exists()


def test_an_unknown_id_is_refused_at_call_time_and_nothing_is_stored():
    first = t.step("k", "a")
    unknown = uuid.uuid4()
    with pytest.raises(ValueError, match=f"after=: no task {unknown}"):
        t.step.using(after=[first, unknown])("k", "b")
    assert list(Task.objects.values_list("id", flat=True)) == [first.id]
    assert not TaskDependency.objects.exists() and not stored(first).has_dependents


def test_an_unknown_id_inside_a_transaction_rolls_back_only_the_call():
    with transaction.atomic():
        kept = t.step("k", "a")
        with pytest.raises(ValueError):
            t.step.using(after=[uuid.uuid4()])("k", "b")
    assert list(Task.objects.values_list("id", flat=True)) == [kept.id]


def test_cancel_goes_down_the_chain():
    a = t.step("k", "a")
    b = t.step.using(after=[a])("k", "b")
    c = t.step.using(after=[b])("k", "c")
    other = t.step("k", "other")
    assert a.cancel()
    assert (a.status, b.status, c.status, other.status) == (CANCELLED, CANCELLED, CANCELLED, WAITING)
    assert b.error_message == f"cancelled: its dependency {a.id} (tests.tasks_dependencies.step) ended CANCELLED"
    assert c.error_message == f"cancelled: its dependency {b.id} (tests.tasks_dependencies.step) ended CANCELLED"


def test_task_finished_for_every_task_a_cancel_ends():
    from autotask import signals

    a = t.step("k", "a")
    b = t.step.using(after=[a])("k", "b")
    c = t.step.using(after=[b])("k", "c")
    got = []

    def receiver(sender, task, status, **kwargs):
        got.append((task, status))

    signals.task_finished.connect(receiver)
    try:
        a.cancel()
        d = t.step.using(after=[a])("k", "d")  # its dependency was cancelled already
    finally:
        signals.task_finished.disconnect(receiver)
    assert sorted(got, key=lambda item: str(item[0].id)) == [(h, CANCELLED) for h in (a, b, c, d)]


def test_cancelling_a_blocked_dependent_leaves_its_dependency():
    a = t.step("k", "a")
    b = t.step.using(after=[a])("k", "b")
    assert b.cancel() and b.status == CANCELLED and a.status == WAITING


def test_bulk_with_after():
    a = t.step("k", "a")
    handles = t.step.using(after=[a]).bulk([("k", str(i)) for i in range(5)])
    assert {stored(h).status for h in handles} == {BLOCKED}
    assert len(a.dependents) == 5


# -- with real workers ---------------------------------------------------------------------


def test_a_chain_runs_in_order(processes):
    a = t.step("chain", "a")
    b = t.step.using(after=[a])("chain", "b")
    c = t.step.using(after=[b])("chain", "c")
    d = t.step.using(after=[a, c])("chain", "d")
    processes.worker()
    finished(d)
    assert labels("chain") == ["a", "b", "c", "d"]
    assert [h.status for h in (a, b, c, d)] == [DONE] * 4 and d.result == "d"


def test_a_failure_cancels_the_chain_without_running_it(processes):
    a = t.fail_step("fail", "a")
    b = t.step.using(after=[a])("fail", "b")
    c = t.step.using(after=[b])("fail", "c")
    unrelated = t.step.using(after=[t.step("fail", "x")])("fail", "y")
    processes.worker()
    finished(c, unrelated)
    assert (a.status, b.status, c.status, unrelated.status) == (ERROR, CANCELLED, CANCELLED, DONE)
    assert b.error_message == f"cancelled: its dependency {a.id} (tests.tasks_dependencies.fail_step) ended ERROR"
    assert c.error_message == f"cancelled: its dependency {b.id} (tests.tasks_dependencies.step) ended CANCELLED"
    assert sorted(labels("fail")) == ["a", "x", "y"]  # b and c never ran


def test_cancelling_a_running_dependency_cancels_its_dependents(processes):
    a = t.slow_step("stop", "a", 60)
    b = t.step.using(after=[a])("stop", "b")
    processes.worker()
    wait_until(lambda: a.status == RUNNING and "a started" in labels("stop"), 60, "a to start")
    assert a.cancel()
    finished(a, b)
    assert (a.status, b.status) == (CANCELLED, CANCELLED) and labels("stop") == ["a started"]


def test_fan_out_of_1000(processes):
    first = t.step("out", "first")
    dependents = t.step.using(after=[first]).bulk([("out", str(i)) for i in range(1000)])
    assert Task.objects.filter(status=BLOCKED).count() == 1000
    processes.worker()
    wait_until(lambda: Note.objects.filter(key="out").count() == 1001, 180, "the 1,000 dependents to run")
    assert labels("out")[0] == "first"
    wait_until(lambda: Task.objects.filter(status=DONE).count() == 1001, 60, "every task DONE")
    assert dependents[0].status == DONE


def test_fan_out_of_1000_cancelled_by_one_failure():
    first = t.step("out", "first")
    dependents = t.step.using(after=[first]).bulk([("out", str(i)) for i in range(1000)])
    then = [t.step.using(after=[dependents[i]])("out", "then") for i in (0, 999)]
    assert first.cancel()
    assert Task.objects.filter(status=CANCELLED).count() == 1003
    assert then[1].error_message.startswith(f"cancelled: its dependency {dependents[999].id}")


def test_fan_in_of_1000(processes):
    dependencies = t.step.bulk([("in", str(i)) for i in range(1000)])
    last = t.step.using(after=dependencies)("in", "last")
    assert stored(last).dependencies_left == 1000 and len(last.dependencies) == 1000
    processes.worker()
    finished(last, timeout=180)
    notes = labels("in")
    assert len(notes) == 1001 and notes[-1] == "last"


def test_a_killed_worker_in_the_middle_of_a_chain(processes):
    """The dependency is recovered like any task (run again: it has a retry); the dependent
    waits on until it ends, and runs once, after it."""
    a = t.step("kill", "a")
    b = t.slow_step.using(after=[a])("kill", "b", 30)
    c = t.step.using(after=[b])("kill", "c")
    victim = processes.worker()
    wait_until(lambda: "b started" in labels("kill"), 60, "b to start")
    import os
    import signal

    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert b.status == RUNNING and c.status == WAITING
    Task.objects.filter(pk=b.id).update(arguments='{"args":["kill","b",0.1],"kwargs":{}}')  # quick this time
    processes.worker()
    finished(c, timeout=120)
    assert (b.status, c.status) == (DONE, DONE)
    assert labels("kill") == ["a", "b started", "b started", "b", "c"]


def test_a_lost_dependency_without_retries_cancels_its_dependents(processes):
    a = t.slow_step.using(retries=0)("lost", "a", 60)
    b = t.step.using(after=[a])("lost", "b")
    victim = processes.worker()
    wait_until(lambda: "a started" in labels("lost"), 60, "a to start")
    import os
    import signal

    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    processes.worker()
    finished(a, b, timeout=120)
    assert (a.status, b.status) == (ERROR, CANCELLED)
    assert b.error_message.startswith(f"cancelled: its dependency {a.id}")


def test_two_workers_release_a_dependent_once(processes):
    """Many dependencies finishing in two workers at once: the dependent is released once and runs once."""
    for _ in range(3):
        dependencies = t.step.bulk([("race", "dep")] * 40)
        t.step.using(after=dependencies)("race", "last")
    processes.worker()
    processes.worker()
    wait_until(lambda: Task.objects.filter(status=DONE).count() == 123, 120, "every task to run")
    assert labels("race").count("last") == 3


def test_a_deleted_dependency_cancels_its_dependents(processes):
    a = t.step.using(delay=3600)("gone", "a")
    b = t.step.using(after=[a])("gone", "b")
    Task.objects.filter(pk=a.id).delete()
    processes.worker()
    finished(b)
    assert b.status == CANCELLED
    assert b.error_message == f"cancelled: its dependency {a.id} is gone (its record was removed before it ended DONE)"
    assert b.dependencies == [DelayedTask(a.id)] and a.status is None


def test_a_run_of_a_schedule_as_a_dependency(processes):
    from . import schedule_tasks  # noqa: F401  (registers the schedules here too)

    processes.worker(AUTOTASK_TEST_IMPORT="tests.schedule_tasks")
    runs = Task.objects.filter(schedule__isnull=False)
    ok = wait_until(lambda: runs.filter(function="tests.schedule_tasks.every_second").first(), 60, "a run of every_second")
    failing = wait_until(
        lambda: runs.filter(function="tests.schedule_tasks.failing_every_second").first(), 60, "a failing run"
    )
    after_ok = t.step.using(after=[DelayedTask(ok.id)])("schedule", "after ok")
    after_failing = t.step.using(after=[failing.id])("schedule", "after failing")
    finished(after_ok, after_failing)
    assert after_ok.status == DONE and labels("schedule") == ["after ok"]
    assert after_failing.status == CANCELLED
    assert after_failing.error_message.endswith("(tests.schedule_tasks.failing_every_second) ended ERROR")


def test_a_django_task_as_a_dependency(processes):
    pytest.importorskip("tests.tasks_django")
    from . import tasks_django

    result = tasks_django.add.enqueue(2, 3)
    then = t.step.using(after=[result])("django", "then")
    assert then.dependencies == [DelayedTask(result.id)] and then.status == WAITING
    processes.worker()
    finished(then)
    result.refresh()
    assert result.return_value == 5 and then.status == DONE


def test_admin_cancel_and_retry_keep_the_chain():
    from autotask import operations

    a = t.step("admin", "a")
    b = t.step.using(after=[a])("admin", "b")
    c = t.step.using(after=[b])("admin", "c")
    assert operations.cancel_tasks(Task.objects.filter(pk=a.id))["cancelled"] == 1
    assert (a.status, b.status, c.status) == (CANCELLED, CANCELLED, CANCELLED)
    # Run again, all three: each waits again for what it waits for.
    assert operations.retry_tasks(Task.objects.filter(pk__in=[a.id, b.id, c.id]))["retried"] == 3
    assert [stored(h).status for h in (a, b, c)] == [WAITING, BLOCKED, BLOCKED]
    assert stored(c).dependencies_left == 1


def test_expired_dependents_take_their_dependency_rows_along():
    from django.utils import timezone

    from autotask import queue

    a = t.step("x", "a")
    b = t.step.using(after=[a])("x", "b")
    Task.objects.filter(pk__in=[a.id, b.id]).update(status=DONE, expires_at=timezone.now())
    assert queue.delete_expired() == 2
    assert not TaskDependency.objects.exists()
