"""Class-based tasks (SPEC 6.4): ``TaskBase`` subclasses run by real workers."""

import pytest

import autotask
from autotask import TaskBase, TaskCancelled, TaskError, TaskTimeout
from autotask.models import Task
from autotask.task import CANCELLED, DONE, ERROR, RUNNING
from autotask.tasks import delayed_task

from . import tasks_classes
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


# -- at decoration and call time --------------------------------------------------------


def test_only_taskbase_subclasses_with_run_and_no_init_arguments():
    class Plain:
        def run(self):
            pass

    with pytest.raises(TypeError, match="must subclass autotask.TaskBase"):
        delayed_task()(Plain)

    class NoRun(TaskBase):
        pass

    with pytest.raises(TypeError, match=r"NoRun must define run\(self, ...\)"):
        delayed_task()(NoRun)

    class NeedsArguments(TaskBase):
        def __init__(self, setting):
            self.setting = setting

        def run(self):
            pass

    with pytest.raises(TypeError, match=r"NeedsArguments\(\) must take no arguments"):
        delayed_task()(NeedsArguments)


def test_calls_are_checked_against_run_without_self():
    with pytest.raises(TypeError, match="missing a required argument: 'number2'"):
        tasks_classes.LongRunningTask(1)
    with pytest.raises(TypeError, match="can't be stored"):
        tasks_classes.LongRunningTask(1, object())
    assert not Task.objects.exists()
    handle = tasks_classes.LongRunningTask(1, number2=2)
    assert Task.objects.get(pk=handle.id).function == "tests.tasks_classes.LongRunningTask"


def test_run_inline_and_the_class_name():
    assert tasks_classes.LongRunningTask.run_inline(2, 3) == {"result": 5}  # set_output without a handle
    assert tasks_classes.LongRunningTask.__name__ == "LongRunningTask"


# -- through a worker -----------------------------------------------------------------


def test_lilota_django_example_by_name_with_output_and_progress(processes):
    handle = autotask.enqueue("long running task", 1, 2)
    processes.worker()
    assert handle.wait(timeout=60) == {"result": 3}
    assert handle.progress == 100 and handle.name == "long running task"


def test_set_output_is_readable_while_the_task_runs(processes):
    handle = tasks_classes.OutputThenWait("output")
    processes.worker()
    wait_until(lambda: Note.objects.filter(key="output", value="output set").exists(), 60, "the output to be set")
    assert handle.status == RUNNING
    assert handle.result == "partial"
    Note.objects.create(key="output", value="go")
    assert handle.wait(timeout=60) == "final"


def test_retries_with_a_new_instance_per_run(processes):
    handle = tasks_classes.FailTwice("retried")
    processes.worker()
    assert handle.wait(timeout=60) == 3
    assert handle.attempts == 3
    assert set(Note.objects.filter(key="retried").values_list("value", flat=True)) == {str(handle.id)}  # self.task


def test_a_timeout_stops_the_run_in_its_runner_process(processes):
    handle = tasks_classes.SleepPastTimeout("timeout")
    processes.worker()
    with pytest.raises(TaskTimeout):
        handle.wait(timeout=60)
    assert handle.status == ERROR
    note = Note.objects.get(key="timeout")
    assert handle.runner_pid == note.pid  # it ran in the runner, not the worker


def test_cancel_stops_a_running_class_task(processes):
    handle = tasks_classes.SleepUntilCancelled("cancel")
    processes.worker()
    wait_until(lambda: Note.objects.filter(key="cancel").exists(), 60, "the task to start")
    assert handle.cancel()
    with pytest.raises(TaskCancelled):
        handle.wait(timeout=60)
    assert handle.status == CANCELLED


def test_bad_output_or_progress_fails_the_run_with_a_clear_message(processes):
    output, progress = tasks_classes.BadOutput(), tasks_classes.BadProgress()
    processes.worker()
    with pytest.raises(TaskError, match="the output can't be stored: it is an instance of object"):
        output.wait(timeout=60)
    with pytest.raises(ValueError, match="progress must be a number from 0 to 100, got 150"):
        progress.wait(timeout=60)
    assert output.status == progress.status == ERROR
    assert Task.objects.filter(status=DONE).count() == 0


def test_using_and_bulk_work_on_a_class():
    handles = tasks_classes.LongRunningTask.bulk([(1, 2), (3, 4)])
    urgent = tasks_classes.LongRunningTask.using(priority=50, queue_name="urgent")(5, 6)
    rows = Task.objects.filter(pk__in=[h.id for h in [*handles, urgent]])
    assert {row.function for row in rows} == {"tests.tasks_classes.LongRunningTask"}
    assert (urgent.priority, urgent.queue_name, urgent.name) == (50, "urgent", "long running task")
