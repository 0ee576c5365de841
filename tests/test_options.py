"""Per-call options, queues, priorities and names, without a worker: what a call stores."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

import autotask
from autotask import Retry, signals
from autotask.models import Task
from autotask.options import TaskOptions
from autotask.tasks import DelayedTask, delayed_task
from autotask.execution.loop import Worker

from . import tasks, tasks_options

pytestmark = pytest.mark.django_db(transaction=True)


def row(handle):
    return Task.objects.get(pk=handle.id)


def test_using_stores_the_call_with_the_options_replaced():
    handle = tasks.add.using(queue_name="mail", priority=10, retries=3, ttl=60, timeout=5)(2, 3)
    stored = row(handle)
    assert (stored.queue_name, stored.priority, stored.retries, stored.ttl, stored.timeout) == ("mail", 10, 3, 60, 5)
    assert (handle.queue_name, handle.priority) == ("mail", 10)
    plain = row(tasks.add(1, 1))  # the function itself is unchanged
    assert (plain.queue_name, plain.priority, plain.retries, plain.ttl, plain.timeout) == ("default", 0, 0, 300, None)


def test_using_delay_and_run_after():
    before = timezone.now()
    delayed = row(tasks.add.using(delay=60)(1, 2))
    assert before + dt.timedelta(seconds=59) < delayed.run_at < timezone.now() + dt.timedelta(seconds=61)
    when = timezone.now() + dt.timedelta(hours=2)
    assert row(tasks.delayed_record.using(run_after=when)("k")).run_at == when  # run_after replaces delay=1.5
    with pytest.raises(ValueError, match="either delay or run_after"):
        tasks.add.using(delay=1, run_after=when)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"priority": 101}, ValueError, "priority must be from -100 to 100, got 101"),
        ({"priority": 1.5}, TypeError, "priority must be a whole number"),
        ({"priority": True}, TypeError, "priority must be a whole number"),
        ({"queue_name": ""}, ValueError, "queue_name must be a non-empty string"),
        ({"queue_name": "a,b"}, ValueError, "without commas"),
        ({"retries": -1}, ValueError, "retries must be 0 or more"),
        ({"timeout": 0}, ValueError, "timeout must be more than 0"),
        ({"run_after": "tomorrow"}, TypeError, "run_after must be a datetime"),
    ],
)
def test_bad_options_fail_at_once_naming_the_value(options, error, message):
    with pytest.raises(error, match=message):
        tasks.add.using(**options)
    assert not Task.objects.exists()


def test_a_naive_run_after_is_refused_with_use_tz():
    with pytest.raises(ValueError, match="aware datetime"):
        tasks.add.using(run_after=dt.datetime(2030, 1, 1))


def test_decorator_options():
    handle = tasks_options.send_mail("k")
    assert (handle.queue_name, handle.priority) == ("mail", 5)
    with pytest.raises(ValueError, match="priority must be from -100 to 100"):
        delayed_task(priority=-101)
    with pytest.raises(ValueError, match="retry_backoff must be a number, 1 or more"):
        delayed_task(retry_backoff=0.5)
    with pytest.raises(ValueError, match="retry_on must be exception classes"):
        delayed_task(retry_on=("IOError",))
    with pytest.raises(ValueError, match="Retry\\(delay=...\\) must be a number of seconds"):
        Retry(delay=-1)


def test_a_task_by_name():
    handle = autotask.enqueue("add numbers", 2, 3)
    stored = row(handle)
    assert (stored.name, stored.function) == ("add numbers", "tests.tasks_options.add_by_name")
    assert handle.name == "add numbers"
    assert isinstance(handle, DelayedTask)


def test_names_are_unique_and_checked():
    with pytest.raises(ValueError, match="task name 'add numbers' is taken by tests.tasks_options.add_by_name"):
        delayed_task(name="add numbers")(tasks.record.func)
    with pytest.raises(TypeError, match="a task's name must be a non-empty string"):
        delayed_task(name=3)
    with pytest.raises(LookupError, match="no task is registered under the name 'nope' \\(known names: .*add numbers"):
        autotask.enqueue("nope")
    with pytest.raises(LookupError, match="is a schedule \\(tests.schedule_tasks.every_second\\), not a delayed task"):
        import tests.schedule_tasks  # noqa: F401  (registers its schedules)

        autotask.enqueue("every_second")


def test_task_enqueued_is_sent_in_the_calling_process():
    received = []

    def receiver(sender, task, **kwargs):
        received.append((sender, task))

    signals.task_enqueued.connect(receiver)
    try:
        handle = tasks.add(1, 2)
        bulk = tasks.add.bulk([(1, 1), (2, 2)])
    finally:
        signals.task_enqueued.disconnect(receiver)
    assert received == [(tasks.add, handle)] + [(tasks.add, h) for h in bulk]


def test_a_raising_receiver_changes_nothing(caplog):
    def raises(sender, task, **kwargs):
        raise RuntimeError("receiver broke")

    signals.task_enqueued.connect(raises)
    try:
        handle = tasks.add(1, 2)
    finally:
        signals.task_enqueued.disconnect(raises)
    assert row(handle).status == "WAITING"
    assert "signal receiver failed" in caplog.text and "receiver broke" in caplog.text


def test_task_finished_for_a_task_cancelled_before_it_ran():
    received = []
    signals.task_finished.connect(lambda sender, task, status, **kw: received.append((sender, task, status)), weak=False,
                                  dispatch_uid="test-cancel")
    try:
        handle = tasks.add(1, 2)
        assert handle.cancel()
    finally:
        signals.task_finished.disconnect(dispatch_uid="test-cancel")
    assert received == [(tasks.add, handle, "CANCELLED")]


def test_worker_queues():
    with override_settings(AUTOTASK_QUEUES=["mail", "default"]):
        assert Worker(companion=True).identity.queues == ("mail", "default")
        assert Worker().identity.queues == ()  # a dedicated worker takes --queue, default all
    assert Worker(queues=["reports"]).identity.queues == ("reports",)
    with pytest.raises(CommandError, match="--queue 'a,b'"):
        call_command("run_autotask", queues=["a,b"])


def test_task_options_are_immutable_and_validated_when_built():
    options = TaskOptions(priority=3)
    assert options.replace(priority=None) is options
    assert options.replace(queue_name="x").queue_name == "x"
    with pytest.raises(ValueError):
        options.replace(priority=500)
