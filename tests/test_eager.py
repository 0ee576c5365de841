"""``AUTOTASK_EAGER = True``: calls run at once in the calling process and return real handles.

Most tests run twice: as in a Django ``TestCase`` (the test inside a
transaction that is rolled back at its end) and as in a ``TransactionTestCase``
(autocommit); the classes at the end are real Django test cases.
"""

import datetime as dt
import os
import subprocess
import sys
import time
from importlib.util import find_spec

import pytest
from django.db import connection, transaction
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

import autotask
import autotask.signals
from autotask import TaskError, stats
from autotask.apps import should_start_companion
from autotask.checks import check_active, check_database, check_eager_in_deployment, check_settings
from autotask.models import Task as TaskRow
from autotask.models import Worker
from autotask.queue import HOST
from autotask.task import DONE, ERROR, RUNNING
from autotask.tasks import Call, DelayedFunction, DelayedTask, delayed_task

from . import tasks, tasks_eager
from .conftest import ROOT, subprocess_env
from .models import Article, Note
from .test_transactions import elsewhere  # another thread: another connection

IN_TEST_CASE = "TestCase"
IN_TRANSACTION_TEST_CASE = "TransactionTestCase"
both_styles = pytest.mark.parametrize(
    "style",
    [
        pytest.param(IN_TEST_CASE, marks=pytest.mark.django_db),
        pytest.param(IN_TRANSACTION_TEST_CASE, marks=pytest.mark.django_db(transaction=True)),
    ],
    indirect=True,
)


@pytest.fixture(autouse=True)
def eager(settings):
    settings.AUTOTASK_EAGER = True


@pytest.fixture
def style(request):
    """The test's database style, checked: a TestCase-style test runs inside a transaction."""
    assert connection.in_atomic_block == (request.param == IN_TEST_CASE)
    return request.param


THIS_PROCESS = f"{HOST}:{os.getpid()}"


# -- a call returns the handle of a finished task ---------------------------------------------


@both_styles
def test_a_call_returns_the_handle_of_a_finished_task(style):
    handle = tasks.add(2, 3)
    assert isinstance(handle, DelayedTask)
    assert (handle.status, handle.ready, handle.result) == (DONE, True, 5)
    assert handle.wait() == 5
    assert handle.wait(timeout=0) == 5  # no waiting: it is finished already
    assert (handle.attempts, handle.progress, handle.error_message) == (1, 100, "")
    assert handle.worker == THIS_PROCESS
    assert handle.started_at <= handle.finished_at
    assert TaskRow.objects.get(pk=handle.id).function == "tests.tasks.add"  # the same row as with a worker
    assert DelayedTask(str(handle.id)).result == 5  # a handle rebuilt from the id reads it too


@both_styles
def test_the_task_runs_in_the_calling_process_and_no_worker_is_involved(style):
    handle = tasks.record("here", "v")
    assert handle.result == "here"
    assert list(Note.objects.values_list("key", "value", "pid")) == [("here", "v", os.getpid())]
    assert not Worker.objects.exists()


@both_styles
def test_eager_runs_are_left_out_of_the_workers_figures_for_the_dashboard(style, monkeypatch):
    counted = []
    monkeypatch.setattr(stats, "record", lambda runs, held: counted.append(runs))
    assert tasks.add(1, 2).result == 3
    assert counted == []  # no heartbeat would ever write them (and they'd mix into a worker's)


@both_styles
def test_a_failing_task_ends_error_and_wait_raises_its_exception(style):
    handle = tasks.fail_with_value_error("not a number")  # the call itself does not raise
    assert (handle.status, handle.ready, handle.error_message) == (ERROR, True, "not a number")
    with pytest.raises(ValueError, match="not a number") as raised:
        handle.wait()
    assert isinstance(raised.value, TaskError)
    assert raised.value.exception_class == "builtins.ValueError"
    assert "fail_with_value_error" in handle.traceback
    assert "autotask/eager.py" not in handle.traceback  # the task's frames only, as from a worker


@both_styles
def test_retries_run_at_once_as_configured(style, settings):
    settings.AUTOTASK_RETRY_DELAY = 3600  # skipped: a retry runs at once
    started = time.monotonic()
    handle = tasks.fail_twice_then_succeed("retried")
    assert (handle.status, handle.result, handle.attempts) == (DONE, "third time lucky", 3)
    assert [attempt.status for attempt in handle.attempts_history] == [ERROR, ERROR, DONE]
    failing = tasks_eager.fail_every_time("failing")
    assert (failing.status, failing.attempts, failing.error_message) == (ERROR, 3, "attempt 3 of failing fails")
    assert Note.objects.filter(key="failing").count() == 3
    assert time.monotonic() - started < 60


@both_styles
def test_a_delay_and_run_after_do_not_hold_a_call_back(style):
    later = timezone.now() + dt.timedelta(days=1)
    handles = [
        tasks_eager.record_in_an_hour("delayed"),
        tasks.record.using(run_after=later)("run after"),
        tasks.record.using(delay=600)("using delay"),
    ]
    assert [(h.status, h.result) for h in handles] == [(DONE, "delayed"), (DONE, "run after"), (DONE, "using delay")]


@both_styles
def test_bulk_runs_every_call_in_order(style):
    handles = tasks.record.bulk([("a",), ["b"], Call("c", value="see")])
    assert [(h.status, h.result) for h in handles] == [(DONE, "a"), (DONE, "b"), (DONE, "c")]
    assert list(Note.objects.order_by("id").values_list("key", "value")) == [("a", ""), ("b", ""), ("c", "see")]


@both_styles
def test_using_and_enqueue_by_name_return_finished_handles(style):
    configured = tasks.add.using(queue_name="mail", priority=7)(1, 2)
    assert (configured.status, configured.result, configured.queue_name, configured.priority) == (DONE, 3, "mail", 7)
    named = autotask.enqueue("eager double", 21)
    assert (named.status, named.result, named.name) == (DONE, 42, "eager double")


@both_styles
def test_a_model_method_its_after_rule_and_after_handles_run_at_once(style):
    article = Article.objects.create(title="eager")
    assert article.long_task("!").result == "eager!"
    then = article.run_then()  # after=["run_first"]: run_first runs first, at once, then this
    assert then.status == DONE and [d.status for d in then.dependencies] == [DONE]
    assert list(Note.objects.filter(key=f"tests.article:{article.pk}").values_list("value", flat=True)) == [
        "long_task eager!", "first", "then",
    ]
    first = tasks.add(1, 1)
    assert tasks.add.using(after=[first])(2, 2).result == 4  # its dependency is DONE already


@both_styles
def test_cancel_after_the_call_finds_the_task_finished(style):
    handle = tasks.add(1, 1)
    assert handle.cancel() is False
    assert (handle.status, handle.result) == (DONE, 2)


@both_styles
def test_current_task_and_progress_inside_the_run(style):
    handle = tasks_eager.report_progress(40)
    assert handle.result == [str(handle.id), RUNNING, 40]
    assert handle.progress == 100
    assert autotask.current_task() is None


@both_styles
def test_a_task_that_calls_another_runs_it_at_once_inside(style):
    outer = tasks_eager.call_record("inner")
    inner_id, inner_status, inner_result = outer.result
    assert (outer.status, inner_status, inner_result) == (DONE, DONE, "inner")
    assert DelayedTask(inner_id).status == DONE


@both_styles
def test_signals_are_sent_in_order(style):
    heard = []

    def enqueued(sender, task, **kwargs):
        heard.append(("enqueued", task.id))

    def started(sender, task, **kwargs):
        heard.append(("started", task.id))

    def finished(sender, task, status, **kwargs):
        heard.append(("finished", task.id, status))

    autotask.signals.task_enqueued.connect(enqueued)
    autotask.signals.task_started.connect(started)
    autotask.signals.task_finished.connect(finished)
    try:
        handle = tasks.add(4, 4)
    finally:
        autotask.signals.task_enqueued.disconnect(enqueued)
        autotask.signals.task_started.disconnect(started)
        autotask.signals.task_finished.disconnect(finished)
    assert heard == [("enqueued", handle.id), ("started", handle.id), ("finished", handle.id, DONE)]


# -- transactions: the call runs at once, in the caller's transaction ------------------------


@both_styles
def test_the_task_sees_the_callers_uncommitted_rows(style):
    with transaction.atomic():
        Note.objects.create(key="mine", value="not committed yet")
        assert tasks_eager.read_note("mine").result == "not committed yet"


@both_styles
def test_a_rolled_back_call_and_what_it_wrote_are_gone(style):
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            handle = tasks.record("rolled back")
            assert handle.status == DONE
            1 / 0
    assert handle.status is None
    assert not Note.objects.filter(key="rolled back").exists()


@both_styles
def test_a_task_failing_with_a_database_error_leaves_the_transaction_usable(style):
    with transaction.atomic():
        handle = tasks_eager.record_then_break_the_transaction("broken")
        assert handle.status == ERROR
        assert "no_such_table_here" in handle.error_message
        assert not Note.objects.filter(key="broken").exists()  # its writes were undone
        Note.objects.create(key="after")
    assert Note.objects.filter(key="after").exists()


@both_styles
def test_what_a_failing_task_wrote_before_it_failed_stays_as_with_a_worker(style):
    with transaction.atomic():
        handle = tasks_eager.record_then_fail("half done")
    assert handle.status == ERROR
    assert Note.objects.filter(key="half done").exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_run_is_committed_at_once():
    handle = tasks.record("committed")
    assert elsewhere(lambda: (DelayedTask(handle.id).status, Note.objects.filter(key="committed").count())) == (DONE, 1)


# -- settings, checks, and no worker -----------------------------------------------------------


@pytest.mark.django_db
def test_eager_stores_calls_even_with_autotask_is_active_unset(settings):
    del settings.AUTOTASK_IS_ACTIVE
    wrapped = delayed_task()(tasks_eager.triple)
    assert isinstance(wrapped, DelayedFunction)
    assert wrapped(3).result == 9
    settings.AUTOTASK_EAGER = False
    assert delayed_task()(tasks_eager.triple) is tasks_eager.triple  # neither: inactive, the plain function


def test_a_setting_that_is_not_a_bool_is_a_check_error(settings):
    for wrong in ("yes", 1, None):
        settings.AUTOTASK_EAGER = wrong
        errors = [e for e in check_settings() if e.id == "autotask.E001"]
        assert [e.msg for e in errors] == [f"AUTOTASK_EAGER must be bool, not {wrong!r}"]
    settings.AUTOTASK_EAGER = True
    assert check_settings() == []


def test_check_deploy_warns_that_eager_mode_is_for_tests(settings):
    from django.core.checks.registry import registry

    assert check_eager_in_deployment in registry.get_checks(include_deployment_checks=True)
    assert check_eager_in_deployment not in registry.get_checks()  # a plain check (and the test runner's) is quiet
    [warning] = check_eager_in_deployment()
    assert warning.id == "autotask.W002" and "test settings only" in warning.hint
    settings.AUTOTASK_EAGER = False
    assert check_eager_in_deployment() == []


def test_eager_mode_is_not_reported_as_inactive(settings):
    settings.AUTOTASK_IS_ACTIVE = False
    assert check_active() == []
    settings.AUTOTASK_EAGER = False
    [info] = check_active()
    assert info.id == "autotask.I001" and "AUTOTASK_EAGER = True" in info.hint


@pytest.mark.django_db
def test_an_in_memory_sqlite_database_will_do_in_eager_mode(settings, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's in-memory database")
    monkeypatch.setattr(connection, "is_in_memory_db", lambda: True)
    assert [m.id for m in check_database()] == []
    settings.AUTOTASK_EAGER = False
    assert [m.id for m in check_database()] == ["autotask.E003"]


def test_no_companion_worker_is_started_in_eager_mode(settings):
    settings.AUTOTASK_WORKER_AUTOSTART = True
    start, why = should_start_companion()
    assert not start and "AUTOTASK_EAGER" in why


@pytest.mark.django_db(transaction=True)
def test_a_django_process_in_eager_mode_starts_no_worker_and_runs_its_calls_itself(processes):
    """A stand-in for a web server, with autostart on (tests/run_web.py)."""
    web = subprocess.Popen(
        [sys.executable, "-m", "tests.run_web"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1", AUTOTASK_TEST_EAGER="1"), text=True, start_new_session=True,
    )
    processes.started.append(web)
    pid = int(web.stdout.readline().removeprefix("web "))
    assert web.stdout.readline() == "companion none\n"
    web.stdin.write("enqueue from-web\n")
    web.stdin.flush()
    handle = DelayedTask(web.stdout.readline().removeprefix("task ").strip())
    assert (handle.status, handle.result, handle.worker) == (DONE, "from-web", f"{HOST}:{pid}")
    assert Note.objects.get(key="from-web").pid == pid
    assert not Worker.objects.exists()
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    assert children == []
    web.stdin.write("exit\n")
    web.stdin.flush()
    assert web.wait(timeout=60) == 0


# -- real Django test cases, as an application's tests would be written ---------------------


class EagerChecks:
    def test_handles_of_finished_tasks(self):
        Note.objects.create(key="setup", value="from the test")
        self.assertEqual(tasks_eager.read_note("setup").result, "from the test")
        handle = tasks.record("in a test case")
        self.assertEqual((handle.status, handle.result), (DONE, "in a test case"))
        self.assertTrue(Note.objects.filter(key="in a test case", pid=os.getpid()).exists())
        with self.assertRaisesMessage(ValueError, "bad value"):
            tasks.fail_with_value_error().wait()


@override_settings(AUTOTASK_EAGER=True)
class EagerInATestCase(EagerChecks, TestCase):
    pass


@override_settings(AUTOTASK_EAGER=True)
class EagerInATransactionTestCase(EagerChecks, TransactionTestCase):
    pass


# -- Django's tasks framework through AutotaskBackend ------------------------------------------

needs_django_tasks = pytest.mark.skipif(
    find_spec("django.tasks") is None and find_spec("django_tasks") is None,
    reason="Django's tasks framework is missing: Django 6, or on Django 5.2 pip install -e '.[django-tasks]'",
)


@needs_django_tasks
@both_styles
def test_django_tasks_run_at_once_and_enqueue_returns_the_finished_result(style):
    from autotask.backends.compat import TaskResultStatus, task_enqueued, task_finished, task_started

    from . import tasks_django

    heard = []

    def hear(signal_name):
        def receiver(sender, task_result, **kwargs):
            heard.append((signal_name, task_result.status))

        return receiver

    receivers = {signal: hear(name) for name, signal in
                 [("enqueued", task_enqueued), ("started", task_started), ("finished", task_finished)]}
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        result = tasks_django.add.enqueue(2, 3)
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
    assert tasks_django.add.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    assert DelayedTask(result.id).status == DONE
    assert heard == [
        ("enqueued", TaskResultStatus.READY), ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
    ]

    failed = tasks_django.fail_with_value_error.enqueue("no")
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class_path == "builtins.ValueError"

    later = tasks_django.record.using(run_after=timezone.now() + dt.timedelta(hours=1)).enqueue("deferred")
    assert (later.status, later.return_value) == (TaskResultStatus.SUCCESSFUL, "deferred")

    retried = tasks_django.fail_twice_then_succeed.enqueue("retried")  # TASKS["retrying"]: two retries
    assert (retried.status, retried.return_value, retried.attempts) == (TaskResultStatus.SUCCESSFUL, 3, 3)


@needs_django_tasks
def test_the_backend_is_not_reported_inactive_in_eager_mode(settings):
    from autotask.backends.compat import task_backends

    settings.AUTOTASK_IS_ACTIVE = False
    assert "autotask.I101" not in [m.id for m in task_backends["default"].check()]
    settings.AUTOTASK_EAGER = False
    assert "autotask.I101" in [m.id for m in task_backends["default"].check()]
