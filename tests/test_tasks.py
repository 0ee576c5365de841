"""The decorators and the handle, without a worker."""

import uuid

import pytest
from django.db import transaction
from django.test import override_settings

from autotask import TaskError, queue, serialization
from autotask.models import Task
from autotask.task import CANCELLED, WAITING
from autotask.tasks import Call, DelayedFunction, DelayedTask, cron_task, delayed_task, periodic_task

from . import tasks


def test_delayed_task_wraps_when_active():
    assert isinstance(tasks.add, DelayedFunction)
    assert tasks.add.path == "tests.tasks.add"
    assert tasks.add.run_inline(2, 3) == 5


def test_inactive_decorators_return_the_function_itself():
    def plain(x):
        return x * 2

    with override_settings(AUTOTASK_IS_ACTIVE=False):
        assert delayed_task()(plain) is plain
        assert periodic_task(seconds=5)(plain) is plain
        assert cron_task(crontab="* * * * *")(plain) is plain
    assert plain(2) == 4


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"delay": -1}, "delay must be 0 or more"),
        ({"retries": -1}, "retries must be 0 or more"),
        ({"ttl": -5}, "ttl must be 0 or more"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_negative_arguments_fail_at_decoration(kwargs, error):
    with pytest.raises(ValueError, match=error):
        delayed_task(**kwargs)


def test_wrong_types_fail_at_decoration():
    with pytest.raises(TypeError, match="delay must be a number"):
        delayed_task(delay="soon")
    with pytest.raises(TypeError, match="retries must be a whole number"):
        delayed_task(retries=1.5)
    with pytest.raises(TypeError, match="parentheses"):
        delayed_task(lambda: None)


@pytest.mark.parametrize("seconds", [0, -1, "60", None])
def test_periodic_seconds_must_be_positive(seconds):
    with pytest.raises(ValueError, match="seconds must be a number greater than 0"):
        periodic_task(seconds=seconds)


def test_cron_task_validates_at_decoration():
    with pytest.raises(ValueError, match="hours"):
        cron_task(crontab="0 24 * * *")
    with pytest.raises(ValueError):
        cron_task(crontab="* * * * *", cron="* * * * *")


def test_functions_a_worker_cant_import_are_refused():
    def local():
        pass

    with pytest.raises(ValueError, match="module level"):
        delayed_task()(local)


@pytest.mark.django_db
def test_unstorable_argument_is_refused_at_call_time_naming_it():
    with pytest.raises(TypeError, match="argument 'b' can't be stored: it is an instance of object"):
        tasks.add(1, object())
    with pytest.raises(TypeError, match="argument 'flag' can't be stored"):
        tasks.echo(flag=object())
    with pytest.raises(TypeError, match=r"argument 'b' can't be stored: it is a task handle .* use handle\.id"):
        tasks.add(1, tasks.add(1, 2))
    assert Task.objects.count() == 1  # the inner add(1, 2) only


@pytest.mark.django_db
def test_a_call_that_does_not_fit_the_signature_fails_at_call_time():
    with pytest.raises(TypeError):
        tasks.add(1)
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_call_stores_a_waiting_row_and_returns_a_handle():
    handle = tasks.add(2, 3)
    assert isinstance(handle.id, uuid.UUID)
    assert handle.status == WAITING
    assert handle.ready is False
    assert handle.result is None
    assert handle.error_message == ""
    assert handle.progress is None
    row = Task.objects.get(pk=handle.id)
    assert row.function == "tests.tasks.add"
    assert DelayedTask(str(handle.id)) == handle
    assert DelayedTask(handle.id).status == WAITING


@pytest.mark.django_db
def test_cancel_a_waiting_task():
    handle = tasks.noop()
    assert handle.cancel() is True
    assert handle.status == CANCELLED
    assert handle.ready is True
    with pytest.raises(TaskError, match="cancelled"):
        handle.wait(timeout=1)
    assert handle.cancel() is False  # already finished: a no-op


@pytest.mark.django_db
def test_a_gone_record_reads_as_none():
    handle = tasks.noop()
    Task.objects.filter(pk=handle.id).delete()
    assert handle.status is None
    assert handle.ready is None
    assert handle.result is None
    assert handle.error_message == ""
    assert handle.cancel() is False


@pytest.mark.django_db
def test_wait_times_out():
    with pytest.raises(TimeoutError):
        tasks.noop().wait(timeout=0.05)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_call_is_gone_and_its_id_never_reused():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            handle = tasks.noop()
            raise RuntimeError("roll back")
    assert handle.status is None
    other = tasks.noop()
    assert other.id != handle.id
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_bulk_stores_many_calls():
    handles = tasks.add.bulk([(1, 2), Call(3, b=4)] + [(i, i) for i in range(100)])
    assert len(handles) == 102
    assert Task.objects.count() == 102
    assert len({h.id for h in handles}) == 102
    with pytest.raises(TypeError, match="argument 'b' can't be stored"):
        tasks.add.bulk([(1, object())])
    with pytest.raises(TypeError, match="bulk"):
        tasks.add.bulk([5])


@pytest.mark.django_db
def test_bulk_over_several_statements_stores_each_call_with_its_own_id():
    count = 2 * queue.BULK_CHUNK + 7  # several statements on every database
    handles = tasks.sleep_past_timeout.bulk([(i,) for i in range(count)])
    stored = {row["id"]: row for row in Task.objects.values()}
    assert len(stored) == count
    for i, handle in enumerate(handles):
        assert serialization.loads_call(stored[handle.id]["arguments"]) == ([i], {})
    single = Task.objects.filter(pk=tasks.sleep_past_timeout(0).id).values().get()
    for row in (stored[handles[0].id], stored[handles[-1].id]):  # the same row as a single call's, but for id and args
        for name in ("function", "status", "retries", "ttl", "timeout", "attempts", "losses", "worker", "worker_id",
                     "cancel_requested", "error_message", "result", "started_at", "finished_at", "expires_at"):
            assert row[name] == single[name], name
        assert row["run_at"] == row["created_at"] <= single["created_at"]


@pytest.mark.django_db(transaction=True)
def test_bulk_rolls_back_with_the_caller_s_transaction():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            tasks.noop.bulk([()] * 1200)
            raise RuntimeError("rollback")
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_set_progress_validates():
    handle = tasks.noop()
    handle.set_progress(30)
    assert handle.progress == 30
    with pytest.raises(ValueError, match="0 to 100"):
        handle.set_progress(101)
