"""Django's tasks framework through ``autotask.backends.AutotaskBackend``, with real workers.

The same module runs on Django 6 (``django.tasks``) and on Django 5.2 with the
``django-tasks`` backport; TASKS is in ``tests/settings.py``.
"""

import asyncio
import datetime as dt
import enum
import json
import logging
import os
import signal
import uuid
from importlib.util import find_spec

import pytest

if find_spec("django.tasks") is None and find_spec("django_tasks") is None:
    reason = "Django's tasks framework is missing: Django 6, or on Django 5.2 pip install -e '.[django-tasks]'"
    if os.environ.get("CI"):
        raise RuntimeError(f"{reason} (CI installs it: see the Makefile)")
    pytest.skip(reason, allow_module_level=True)

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

import autotask.signals
from autotask.backends import AutotaskBackend
from autotask.backends.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from autotask.models import Task as TaskRow
from autotask.task import WAITING
from autotask.tasks import DelayedTask

from . import tasks, tasks_django, tasks_django_unheard
from .conftest import wait_until
from .models import Note

try:
    from django.tasks import task
    from django.tasks.exceptions import TaskResultMismatch
except ImportError:
    from django_tasks import task
    from django_tasks.exceptions import TaskResultMismatch

READY, RUNNING, SUCCESSFUL, FAILED = (
    TaskResultStatus.READY, TaskResultStatus.RUNNING, TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED,
)
db = pytest.mark.django_db(transaction=True)


def wait_finished(result, timeout=60):
    def finished():
        result.refresh()
        return result.is_finished

    wait_until(finished, timeout, f"task {result.task.name} {result.id} to finish")
    return result


def ran_in(pid, process):
    """Whether ``pid`` is ``process`` or one it started (run_autotask's worker is a child of its supervisor)."""
    return os.getpgid(pid) == process.pid


def worker_pid(result):
    return int(result.worker_ids[-1].rsplit(":", 1)[1])


class Received:
    """A receiver of Django's task signals that keeps what this process received."""

    def __init__(self):
        self.signals = []
        self.kinds = {task_enqueued: "enqueued", task_started: "started", task_finished: "finished"}

    def __call__(self, signal, sender, task_result, **kwargs):
        self.signals.append((self.kinds[signal], sender, task_result.id, task_result.status))

    def __enter__(self):
        for signal_ in self.kinds:
            signal_.connect(self)
        return self

    def __exit__(self, *exc):
        for signal_ in self.kinds:
            signal_.disconnect(self)


class Status(str, enum.Enum):
    NOW = "now"


def no_context(key):  # a module-level function whose first argument is not "context"
    return key


def _renamed(key):
    return key


renamed = task(_renamed)  # its module_path names the plain function, not the Task


# -- the backend, without workers -----------------------------------------------------


def test_the_backend_supports_everything_and_checks_clean(settings):
    backend = task_backends["default"]
    assert isinstance(backend, AutotaskBackend)
    assert (backend.supports_defer, backend.supports_priority, backend.supports_get_result) == (True, True, True)
    assert backend.supports_async_task is True
    assert list(backend.check()) == []
    settings.AUTOTASK_IS_ACTIVE = False  # inactive may be wanted: an INFO, as autotask.I001
    assert [message.id for message in backend.check()] == ["autotask.I101"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"OPTIONS": {"retry": 3}}, "TASKS['bad']['OPTIONS'] has unknown option(s) 'retry'"),
        ({"OPTIONS": {"retries": -1}}, "TASKS['bad']: retries must be 0 or more, got -1"),
        ({"OPTIONS": {"retries": 1.5}}, "TASKS['bad']: retries must be a whole number, got 1.5"),
        ({"OPTIONS": {"ttl": "long"}}, "TASKS['bad']: ttl must be a number, got 'long'"),
        ({"OPTIONS": {"timeout": 0}}, "TASKS['bad']: timeout must be more than 0 seconds"),
        ({"QUEUES": ["mail,sms"]}, "TASKS['bad']: queue_name must be at most 100 characters, without commas"),
    ],
)
def test_bad_options_fail_when_the_backend_is_made_naming_them(params, message):
    with pytest.raises(ImproperlyConfigured) as info:
        AutotaskBackend("bad", {"BACKEND": "autotask.backends.AutotaskBackend", **params})
    assert message in str(info.value)


def test_tasks_are_validated_as_django_s_base_backend_does(settings):
    settings.TASKS = {"default": {"BACKEND": "autotask.backends.AutotaskBackend", "QUEUES": ["default", "mail"]}}
    assert tasks_django.add.using(queue_name="mail").queue_name == "mail"
    with pytest.raises(InvalidTask, match="Queue 'sms' is not valid for backend"):
        tasks_django.add.using(queue_name="sms")
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        tasks_django.add.using(priority=101)
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        tasks_django.add.using(run_after=dt.datetime(2030, 1, 1))
    with pytest.raises(InvalidTask, match="first argument of 'context'"):
        task(takes_context=True)(no_context)
    settings.TASKS = {"default": {"BACKEND": "autotask.backends.AutotaskBackend", "QUEUES": []}}
    with pytest.raises(InvalidTask, match="queue_name must be at most 100 characters, without commas"):
        tasks_django.add.using(queue_name="a,b")


@db
def test_enqueue_stores_one_row_and_returns_its_ready_result():
    enqueued_here = []

    def on_enqueued(sender, task, **kwargs):
        enqueued_here.append((sender, task))

    with Received() as received:
        autotask.signals.task_enqueued.connect(on_enqueued)
        try:
            result = tasks_django.echo.using(priority=7).enqueue(1, (2, 3), when=Status.NOW, data=b"ab", keys={1: 2})
        finally:
            autotask.signals.task_enqueued.disconnect(on_enqueued)
    assert result.status == READY and not result.is_finished
    # JSON, as Django's backends keep them: a tuple is a list, bytes a string, a str enum a str, keys strings.
    assert (result.args, result.kwargs) == ([1, [2, 3]], {"when": "now", "data": "ab", "keys": {"1": 2}})
    assert type(result.kwargs["when"]) is str
    assert result.backend == "default" and result.task.priority == 7 and result.task.queue_name == "mail"
    assert (result.started_at, result.finished_at, result.last_attempted_at) == (None, None, None)
    assert (result.errors, result.worker_ids, result.attempts) == ([], [], 0)
    with pytest.raises(ValueError, match="not finished"):
        result.return_value
    row = TaskRow.objects.get(pk=result.id)
    assert (row.function, row.backend, row.queue_name, row.priority, row.status) == (
        "tests.tasks_django.echo", "default", "mail", 7, WAITING,
    )
    assert (row.retries, row.ttl, row.timeout) == (0, 300, None)
    assert result.enqueued_at == row.created_at
    # Read again, from the row: the same result.
    again = tasks_django.echo.get_result(result.id)
    assert (again.id, again.status, again.enqueued_at, again.args, again.kwargs) == (
        result.id, READY, result.enqueued_at, result.args, result.kwargs,
    )
    assert again.task == result.task
    assert received.signals == [("enqueued", AutotaskBackend, result.id, READY)]
    assert enqueued_here == [(tasks_django.echo.using(priority=7), DelayedTask(result.id))]
    # Another alias stores its own OPTIONS.
    retrying = tasks_django.add.using(backend="retrying").enqueue(1, 2)
    assert TaskRow.objects.filter(pk=retrying.id, backend="retrying", retries=2, ttl=3600).exists()
    assert task_backends["retrying"].get_result(retrying.id).backend == "retrying"


@db
def test_what_can_t_be_stored_or_run_is_refused_at_enqueue():
    with pytest.raises(TypeError, match="Unsupported type"):
        tasks_django.add.enqueue(1, object())
    with pytest.raises(InvalidTask, match="tests.test_backends._renamed is not a django.tasks Task"):
        renamed.enqueue("x")
    assert not TaskRow.objects.exists()


@db
def test_unknown_malformed_and_foreign_ids_do_not_exist_and_mismatches_are_told():
    backend = task_backends["default"]
    for bad in ["nope", str(uuid.uuid4()), str(tasks.add(1, 2).id), 42]:
        with pytest.raises(TaskResultDoesNotExist):
            backend.get_result(bad)
    with pytest.raises(TaskResultDoesNotExist):
        asyncio.run(backend.aget_result("nope"))
    other = tasks_django.record.enqueue("k")
    with pytest.raises(TaskResultMismatch):
        tasks_django.add.get_result(other.id)


@db
def test_enqueue_is_part_of_the_caller_s_transaction():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            result = tasks_django.add.enqueue(1, 2)
            assert tasks_django.add.get_result(result.id).status == READY  # seen inside
            raise RuntimeError("roll back")
    with pytest.raises(TaskResultDoesNotExist):
        tasks_django.add.get_result(result.id)


@db
def test_aenqueue_aget_result_and_arefresh():
    async def scenario():
        result = await tasks_django.add.aenqueue(2, 3)
        fetched = await tasks_django.add.aget_result(result.id)
        await fetched.arefresh()
        from asgiref.sync import sync_to_async

        await sync_to_async(connections.close_all)()  # the connection of asgiref's thread
        return result, fetched

    result, fetched = asyncio.run(scenario())
    assert (fetched.id, fetched.status, fetched.args) == (result.id, READY, [2, 3])
    assert TaskRow.objects.filter(pk=result.id).exists()


@db
def test_cancel_through_the_handle_fails_the_result_and_signals_here():
    result = tasks_django.add.enqueue(1, 2)
    with Received() as received:
        assert DelayedTask(result.id).cancel() is True
    result.refresh()
    assert result.status == FAILED and result.finished_at is not None
    assert [error.exception_class_path for error in result.errors] == ["autotask.exceptions.TaskCancelled"]
    assert received.signals == [("finished", AutotaskBackend, result.id, FAILED)]
    with pytest.raises(ValueError, match="failed"):
        result.return_value


# -- with real workers --------------------------------------------------------------


@db
def test_a_worker_runs_every_kind_of_django_task(processes):
    worker = processes.worker()
    later = timezone.now() + dt.timedelta(seconds=1.5)
    results = {
        "add": tasks_django.add.enqueue(2, 3),
        "async": tasks_django.async_add.enqueue(4, 5),
        "context": tasks_django.describe_context.enqueue("ctx"),
        "echo": tasks_django.echo.enqueue((1, 2), key={"a": [3]}),
        "fails": tasks_django.fail_with_value_error.enqueue("broken input"),
        "retried": tasks_django.fail_twice_then_succeed.enqueue("retried"),
        "later": tasks_django.add.using(run_after=later).enqueue(1, 1),
        "timeout": tasks_django.sleep_past_timeout.enqueue(30),
        "talk": tasks_django.talk.enqueue("hello"),
    }
    for result in results.values():
        wait_finished(result)
    assert results["add"].return_value == 5
    assert results["async"].return_value == 9
    context = results["context"]
    assert context.return_value == {"attempt": 1, "id": context.id, "status": "RUNNING"}
    assert results["echo"].return_value == {"args": [[1, 2]], "kwargs": {"key": {"a": [3]}}}
    ok = results["add"]
    assert ok.status == SUCCESSFUL and ok.errors == []
    assert ok.enqueued_at <= ok.started_at == ok.last_attempted_at <= ok.finished_at
    assert ok.attempts == 1 and ran_in(worker_pid(ok), worker)
    assert DelayedTask(ok.id).wait(timeout=5) == 5  # the same task through autotask's handle
    # Its own output, without the "Task id=... state=RUNNING" line Django's framework logs as it starts.
    assert DelayedTask(results["talk"].id).output == "hello\nINFO tests.talk: said hello\n"

    failed = results["fails"]
    assert failed.status == FAILED and failed.attempts == 1  # OPTIONS of "default": no retries
    [error] = failed.errors
    assert error.exception_class_path == "builtins.ValueError" and error.exception_class is ValueError
    assert "raise ValueError(message)" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        failed.return_value

    retried = results["retried"]  # OPTIONS of "retrying": two retries
    assert retried.status == SUCCESSFUL and retried.return_value == 3 and retried.attempts == 3
    assert [e.exception_class_path for e in retried.errors] == ["builtins.RuntimeError"] * 2  # one per failed attempt
    assert "attempt 2 fails" in retried.errors[1].traceback
    assert retried.started_at < retried.last_attempted_at  # the first attempt's start, and the last one's
    assert list(Note.objects.filter(key="retried").order_by("id").values_list("value", flat=True)) == ["1", "2", "3"]

    assert results["later"].started_at >= later and results["later"].return_value == 2
    timed_out = results["timeout"]
    assert timed_out.status == FAILED
    assert [e.exception_class_path for e in timed_out.errors] == ["autotask.exceptions.TaskTimeout"]


@db
def test_status_transitions_seen_from_another_process_and_cancel_while_running(processes):
    result = tasks_django.wait_for_go.enqueue("go-1")
    handle = DelayedTask(result.id)
    assert tasks_django.wait_for_go.get_result(result.id).status == READY
    worker = processes.worker()
    wait_until(lambda: Note.objects.filter(key="go-1", value="started").exists(), 60, "the task to start")
    result.refresh()
    assert result.status == RUNNING and result.finished_at is None
    assert result.started_at is not None and result.attempts == 1 and ran_in(worker_pid(result), worker)
    with pytest.raises(ValueError, match="not finished"):
        result.return_value
    wait_until(lambda: handle.progress == 40, 60, "the task's progress")
    Note.objects.create(key="go-1", value="go")
    wait_finished(result)
    assert result.status == SUCCESSFUL and result.return_value == "went" and handle.progress == 100

    running = tasks_django.wait_for_go.enqueue("go-2")
    wait_until(lambda: Note.objects.filter(key="go-2", value="started").exists(), 60, "the second task to start")
    assert DelayedTask(running.id).cancel() is True
    wait_finished(running)
    assert running.status == FAILED
    assert [e.exception_class_path for e in running.errors] == ["autotask.exceptions.TaskCancelled"]


@db
def test_a_late_high_priority_task_overtakes_a_backlog(processes):
    processes.worker()
    busy = tasks_django.wait_for_go.enqueue("busy")
    wait_until(lambda: Note.objects.filter(key="busy", value="started").exists(), 60, "the worker to be busy")
    with transaction.atomic():
        backlog = [tasks_django.record.enqueue(f"backlog-{i}") for i in range(20)]
    late = tasks_django.record.using(priority=100).enqueue("late")
    Note.objects.create(key="busy", value="go")
    for result in [busy, late, *backlog]:
        wait_finished(result)
    order = list(Note.objects.filter(key__in=["late", *[f"backlog-{i}" for i in range(20)]]).order_by("id"))
    assert order[0].key == "late", [note.key for note in order[:3]]
    assert [note.key for note in order[1:]] == [f"backlog-{i}" for i in range(20)]  # then oldest first


@db
def test_a_worker_limited_to_one_queue_leaves_the_others_alone(processes):
    processes.worker(AUTOTASK_TEST_QUEUES="mail")
    other = tasks_django.add.enqueue(1, 1)  # queue "default"
    mail = [tasks_django.echo.enqueue(i) for i in range(3)]  # queue "mail"
    for result in mail:
        wait_finished(result)
    last = wait_finished(tasks_django.echo.enqueue("after"))
    assert last.status == SUCCESSFUL
    other.refresh()
    assert other.status == READY and other.attempts == 0


@db
def test_a_killed_worker_s_django_task_is_recovered(processes):
    victim = processes.worker()
    result = tasks_django.sleep_on_first_attempt.enqueue("survivor")  # TASKS["retrying"]: two retries
    wait_until(lambda: Note.objects.filter(key="survivor").exists(), 60, "the task to start")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    rescuer = processes.worker()
    wait_finished(result, timeout=120)
    assert result.status == SUCCESSFUL and result.return_value == "recovered"
    assert result.attempts == 2 and ran_in(worker_pid(result), rescuer)
    assert result.worker_ids[0] != result.worker_ids[1]
    assert [e.exception_class_path for e in result.errors] == ["autotask.exceptions.WorkerLost"]
    assert TaskRow.objects.get(pk=result.id).losses == 1


@db
def test_signals_are_sent_in_the_process_where_it_happens_and_a_raising_receiver_changes_nothing(processes):
    worker = processes.worker()

    def raising(**kwargs):
        raise RuntimeError("an enqueue receiver that raises")

    with Received() as received:
        task_enqueued.connect(raising)
        try:
            signalled = tasks_django.signalled.enqueue("s")
            raised = tasks_django.signalled_with_raising_receivers.enqueue("r")
        finally:
            task_enqueued.disconnect(raising)
        wait_finished(signalled)
        wait_finished(raised)
        after = wait_finished(tasks_django.add.enqueue(3, 4))
    assert [kind for kind, *_ in received.signals] == ["enqueued"] * 3  # started and finished happen in the worker
    assert all(sender is AutotaskBackend for _, sender, *_ in received.signals)
    # The worker sent the signals of the first two before it took the third.
    notes = Note.objects.filter(key=f"signal:{signalled.id}").order_by("id")
    assert len(notes) == 2 and all(ran_in(note.pid, worker) for note in notes)
    started, finished = [json.loads(note.value) for note in notes]
    assert started["signal"] == "started AutotaskBackend RUNNING"
    assert finished["signal"] == "finished AutotaskBackend SUCCESSFUL"
    # What the worker's signals said is what the table says.
    times = [t.timestamp() for t in (signalled.enqueued_at, signalled.started_at, signalled.finished_at)]
    assert started["times"] == [*times[:2], None] and finished["times"] == times
    assert started["args"] == finished["args"] == ["s"]
    assert started["workers"] == finished["workers"] == signalled.worker_ids
    assert (started["value"], finished["value"]) == (None, "s")
    assert (raised.status, raised.return_value) == (SUCCESSFUL, "r")
    assert (after.status, after.return_value) == (SUCCESSFUL, 7)
    log = processes.log(worker)
    assert "a started receiver that raises" in log and "a finished receiver that raises" in log


def test_a_signal_that_only_django_s_quiet_log_receiver_would_hear_is_not_sent():
    from autotask.backends.compat import tasks_logger
    from autotask.backends.execution import heard

    own = [  # this module's receivers (tests.tasks_django), away for the test
        (task_started, tasks_django.note_started, "tests.tasks_django.started"),
        (task_finished, tasks_django.note_finished, "tests.tasks_django.finished"),
    ]
    for signal_, _, uid in own:
        signal_.disconnect(dispatch_uid=uid)
    level = tasks_logger.level
    writer = logging.NullHandler(logging.INFO)  # a handler that writes INFO records
    try:
        tasks_logger.setLevel(logging.WARNING)
        assert [len(s.receivers) for s in (task_enqueued, task_started, task_finished)] == [1, 1, 1]  # Django's
        assert not heard(task_enqueued, logging.DEBUG)
        assert not heard(task_started, logging.INFO) and not heard(task_finished, logging.INFO)
        assert heard(task_finished, logging.ERROR)  # Django logs a failure at ERROR
        with Received():  # a receiver of the project's hears every one
            assert heard(task_enqueued, logging.DEBUG) and heard(task_started, logging.INFO)
        tasks_logger.setLevel(logging.INFO)
        tasks_logger.addHandler(writer)
        assert heard(task_started, logging.INFO) and heard(task_finished, logging.INFO)
        assert not heard(task_enqueued, logging.DEBUG)
    finally:
        tasks_logger.removeHandler(writer)
        tasks_logger.setLevel(level)
        for signal_, receiver, uid in own:
            signal_.connect(receiver, dispatch_uid=uid)


def test_a_record_that_no_handler_would_write_counts_as_unheard(settings):
    from django.utils.log import RequireDebugFalse, RequireDebugTrue

    from autotask.backends.execution import emitted
    from autotask.execution.capture import OutputHandler

    def chain(*handlers, propagate=True, tasks_level=logging.NOTSET):
        """Loggers of their own, like 'django.tasks' under 'django' (Django's default
        LOGGING gives it ``handlers``) under a root logger without handlers."""
        root = logging.RootLogger(logging.WARNING)
        django_ = logging.Logger("django", logging.INFO)
        django_.parent, django_.handlers, django_.propagate = root, list(handlers), propagate
        tasks_ = logging.Logger("django.tasks", tasks_level)
        tasks_.parent = django_
        return tasks_

    def handler(level, *filters):
        made = logging.NullHandler(level)
        for item in filters:
            made.addFilter(item)
        return made

    console = handler(logging.INFO, RequireDebugTrue())  # Django's default LOGGING
    mail_admins = handler(logging.ERROR, RequireDebugFalse())
    settings.DEBUG = False
    assert not emitted(chain(console, mail_admins), logging.INFO)
    assert emitted(chain(console, mail_admins), logging.ERROR)  # to the admins
    settings.DEBUG = True
    assert emitted(chain(console, mail_admins), logging.INFO)  # to the console
    settings.DEBUG = False
    assert not emitted(chain(console, mail_admins, tasks_level=logging.WARNING), logging.ERROR - 1)
    assert emitted(chain(console, handler(logging.INFO)), logging.INFO)  # a handler without filters
    assert not emitted(chain(console, mail_admins, OutputHandler(logging.INFO)), logging.INFO)  # never a run's output
    assert emitted(chain(console, handler(logging.INFO, lambda record: False)), logging.INFO)  # any other filter may pass
    # No handler on the way up: logging's last resort writes WARNING and above.
    assert not emitted(chain(propagate=False), logging.INFO)
    assert emitted(chain(propagate=False), logging.WARNING)
    disabled = chain(handler(logging.DEBUG))
    disabled.disabled = True
    assert not emitted(disabled, logging.ERROR)


@db
@pytest.mark.parametrize("level", ["WARNING", "default"])
def test_a_worker_whose_signals_nobody_hears_still_gives_a_task_its_context(processes, level):
    # 'default': Django's default LOGGING, with DEBUG = False (as in tests/settings.py).
    processes.worker(AUTOTASK_TEST_DJANGO_TASKS_LOG=level if level != "default" else "")
    result = wait_finished(tasks_django_unheard.context_on_second_attempt.enqueue("unheard"))
    # The worker sent neither signal of a run (only a failure's would be logged), and made
    # the TaskContext's result all the same, on the first attempt and after the retry.
    assert result.status == SUCCESSFUL
    assert result.return_value == {"attempt": 2, "id": result.id, "sent": [False, False, True]}
    assert list(Note.objects.filter(key="unheard").order_by("id").values_list("value", flat=True)) == [
        "1 RUNNING", "2 RUNNING",
    ]
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"]
