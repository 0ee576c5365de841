"""Celery as the engine (AUTOTASK_ENGINE = "celery"): real brokers, real ``celery worker`` processes.

Every test runs against Redis and against RabbitMQ (the ``broker`` parameter),
with one Celery worker per broker for the module (prefork pool, two
processes), except where a test needs workers of its own (a killed worker,
schedules with two workers). Each database's run has a broker of its own (a
Redis database number, a RabbitMQ virtual host), so that runs on several
databases at once never take each other's messages. A stopped broker:
tests/test_celery_outage.py, with a Redis of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
import uuid
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from autotask import engine
from autotask.exceptions import TaskCancelled, TaskTimeout
from autotask.models import Task
from autotask.task import CANCELLED, DONE, ERROR, QUEUED, RUNNING, WAITING

from . import tasks, tasks_celery
from .conftest import Processes, process_exists, subprocess_env, wait_until
from .models import Note

celery = pytest.importorskip("celery")

from autotask.contrib.celery import wiring  # noqa: E402  (needs Celery)
from tests.celery_app import app  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

RUN = f"{os.environ.get('AUTOTASK_TEST_DB', 'sqlite')}{os.environ.get('AUTOTASK_TEST_SUFFIX', '')}"
# 1-12 (15 is the settings' default): four for each database, so that its suites never share one
REDIS_DB = {"sqlite": 1, "postgresql": 5, "mysql": 9}.get(os.environ.get("AUTOTASK_TEST_DB", "sqlite"), 13) + (
    zlib.crc32(os.environ.get("AUTOTASK_TEST_SUFFIX", "").encode()) % 4
)
VHOST = f"autotask-{RUN}"
QUEUES = "default,reports"


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _broker_url(kind: str) -> str:
    if kind == "redis":
        _run("redis-cli", "-h", "127.0.0.1", "-n", str(REDIS_DB), "flushdb")  # no message of an earlier run
        return f"redis://127.0.0.1:6379/{REDIS_DB}"
    # A virtual host of this run's own, new: queues declared with priorities, no old message.
    _run("rabbitmqctl", "-q", "delete_vhost", VHOST)
    added = _run("rabbitmqctl", "-q", "add_vhost", VHOST)
    if added.returncode:
        pytest.fail(f"can't add the RabbitMQ virtual host {VHOST}: {added.stderr}")
    _run("rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


def _use_broker(url: str) -> None:
    """This process (the caller's side) sends to ``url`` from now on."""
    app.conf.broker_url = url
    if app._pool is not None:  # the connections to the previous broker
        app._pool.force_close_all()
        app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


class CeleryWorkers(Processes):
    def celery_worker(
        self, broker: str, queues: str = QUEUES, *extra: str, name: str = "celery", dispatch_interval: str = "0.2"
    ) -> subprocess.Popen:
        env = subprocess_env(
            AUTOTASK_TEST_ENGINE="celery", AUTOTASK_TEST_BROKER=broker, AUTOTASK_LOG_LEVEL="INFO",
            AUTOTASK_TEST_DISPATCH_INTERVAL=dispatch_interval,
        )
        process = self.start(
            "-m", "celery", "-A", "tests.celery_app", "worker", "-l", "INFO", "-Q", queues, "-n", f"{name}{len(self.started)}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", *extra, env=env, name=name,
        )
        wait_until(lambda: "ready." in self.log(process) or process.poll() is not None, 120, "the Celery worker to start")
        assert process.poll() is None, self.log(process)
        return process


@pytest.fixture(scope="module", params=["redis", "amqp"])
def broker(request, tmp_path_factory, django_db_setup, django_db_blocker):
    """The broker URL; a Celery worker for the module runs against it and the test database."""
    url = _broker_url(request.param)
    _use_broker(url)
    workers = CeleryWorkers(tmp_path_factory.mktemp(f"celery-{request.param}"))
    with django_db_blocker.unblock():
        _module_worker[:] = [workers.celery_worker(url, QUEUES, "-P", "prefork", "-c", "2")]
    yield url
    workers.stop_all()
    _module_worker.clear()
    _registered.clear()


_module_worker: list[subprocess.Popen] = []
_registered: set[int] = set()  # pids of the module worker's pool processes that have a worker row


def _handled(task_id, times: int = 1) -> None:
    """Wait until the module's Celery worker has handled ``times`` messages of the row
    ``task_id`` (a message's Celery id is its row's id): proof that they came and went."""
    done = f"autotask.run[{task_id}] succeeded"
    wait_until(
        lambda: Path(_module_worker[0].log_path).read_text(errors="replace").count(done) >= times,
        60, f"the Celery worker to handle {times} message(s) of {task_id}",
    )


def _pool_pids() -> set[int]:
    if not _module_worker:
        return set()
    pid = _module_worker[0].pid
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return {int(child) for child in children.read().split()}
    except FileNotFoundError:
        return set()


@pytest.fixture(autouse=True)
def pool_processes_registered(transactional_db):
    """Each test's end empties the tables, the worker rows of the module's Celery worker too: a
    pool process registers again at its next heartbeat. Until it has, a run it starts would look
    like a lost worker's to the dispatchers (as a run of a process whose row was removed is):
    so each test waits for the rows that were there before."""
    from autotask.models import Worker

    expected = _registered & _pool_pids()  # (a pool process that was replaced registers no more)
    if expected:
        wait_until(lambda: expected <= set(Worker.objects.values_list("pid", flat=True)), 30, "the worker rows")
    yield
    _registered.update(set(Worker.objects.filter(pid__in=_pool_pids()).values_list("pid", flat=True)))


@pytest.fixture(autouse=True)
def celery_engine(request):
    with override_settings(AUTOTASK_ENGINE="celery"):
        assert engine.handover is not None
        yield
    assert engine.handover is None


@pytest.fixture
def celery_processes(tmp_path):
    procs = CeleryWorkers(tmp_path)
    yield procs
    procs.stop_all()


def notes(key: str) -> list[str]:
    return list(Note.objects.filter(key=key).order_by("id").values_list("value", flat=True))


def test_every_handle_member(broker):
    added = tasks.add(2, 3)
    assert added.wait(timeout=60) == 5
    assert added.status == DONE and added.ready and added.result == 5
    assert added.attempts == 1 and added.progress == 100 and added.error_message == ""
    host, pid = added.worker.rsplit(":", 1)
    assert process_exists(int(pid))  # a process of the Celery worker's pool
    assert added.started_at <= added.finished_at
    assert added.name == "" and added.queue_name == "default" and added.priority == 0

    progress = tasks.report_progress()
    assert progress.wait(timeout=60) == {"id": str(progress.id), "progress": 50}

    failed = tasks.fail_with_value_error("no")
    with pytest.raises(ValueError, match="no"):
        failed.wait(timeout=60)
    assert failed.status == ERROR and failed.error_message == "no"
    assert "ValueError: no" in failed.traceback
    assert failed.attempts_history[-1].status == ERROR


def test_a_handed_over_task_is_queued_in_the_table_and_waiting_on_its_handle(broker):
    later = tasks.delayed_record(f"eta-{uuid.uuid4()}")  # 1.5 s from now: the ETA
    wait_until(lambda: Task.objects.filter(pk=later.id, status=QUEUED).exists(), 30, "the hand-over")
    assert later.status == WAITING and not later.ready
    later.wait(timeout=60)
    row = Task.objects.get(pk=later.id)
    assert row.started_at >= row.run_at  # not before its time
    assert row.created_at + (row.run_at - row.created_at) <= row.started_at


def test_a_task_whose_message_the_broker_lost_is_sent_again(broker, monkeypatch):
    # As a Redis without persistence that restarted: the send went through, the message is gone.
    monkeypatch.setattr(wiring, "send", lambda *args, **kwargs: None)
    key = f"lost-{uuid.uuid4()}"
    handle = tasks.record(key)
    handed_over = Task.objects.get(pk=handle.id)
    assert handed_over.status == QUEUED and handed_over.handed_over_at is not None
    assert handle.wait(timeout=60) == key  # sent again by the Celery worker's dispatcher
    row = Task.objects.get(pk=handle.id)
    # Not started before it was sent again (the run may take it before the resend's mark).
    assert row.started_at - handed_over.handed_over_at >= dt.timedelta(seconds=settings.AUTOTASK_CELERY_RESEND_AFTER)
    assert row.attempts == 1 and len(notes(key)) == 1


def test_a_task_due_later_than_the_eta_limit_waits_in_the_table_until_due(broker):
    key = f"kept-back-{uuid.uuid4()}"
    with override_settings(AUTOTASK_CELERY_ETA_LIMIT=1):
        handle = tasks.record.using(delay=3)(key)
    assert Task.objects.get(pk=handle.id).status == WAITING  # not sent: a dispatcher sends it when due
    assert handle.wait(timeout=60) == key
    row = Task.objects.get(pk=handle.id)
    assert row.started_at >= row.run_at


def test_retries_run_again_through_celery(broker):
    key = f"retry-{uuid.uuid4()}"
    handle = tasks.fail_twice_then_succeed(key)
    assert handle.wait(timeout=60) == "third time lucky"
    assert handle.attempts == 3 and len(notes(key)) == 3
    assert [attempt.status for attempt in handle.attempts_history] == [ERROR, ERROR, DONE]


def test_a_timeout_kills_the_run_even_in_c_code(broker):
    key = f"deaf-{uuid.uuid4()}"
    handle = tasks.deaf_past_timeout(60, key)
    with pytest.raises(TaskTimeout):
        handle.wait(timeout=60)
    assert handle.status == ERROR and "timed out after 4 s" in handle.error_message
    runner = Note.objects.get(key=key).pid
    wait_until(lambda: not process_exists(runner), 30, "the runner process to be killed")


def test_a_dependent_waits_for_its_dependency_then_runs_in_celery(broker):
    key = f"chain-{uuid.uuid4()}"
    first = tasks.record(key, "first")
    then = tasks.record.using(after=[first])(key, "then")
    assert then.wait(timeout=60) == key  # handed over once its dependency ended DONE
    assert notes(key) == ["first", "then"]
    failing = tasks.fail_with_value_error("no")
    never = tasks.record.using(after=[failing])(key, "never")
    with pytest.raises(TaskCancelled):
        never.wait(timeout=60)
    assert notes(key) == ["first", "then"]


def test_cancel_of_a_waiting_task(broker):
    key = f"cancel-waiting-{uuid.uuid4()}"
    handle = tasks.delayed_record(key)
    assert handle.cancel() is True
    assert handle.status == CANCELLED
    with pytest.raises(TaskCancelled):
        handle.wait(timeout=5)
    _handled(handle.id)  # past its ETA: its message came, and the row said no
    assert notes(key) == [] and handle.attempts == 0


def test_cancel_of_a_running_task(broker):
    key = f"cancel-running-{uuid.uuid4()}"
    handle = tasks_celery.sleep_in_steps(60, key)
    wait_until(lambda: notes(key) == ["started"], 60, "the task to start")
    assert handle.status == RUNNING
    started = time.monotonic()
    assert handle.cancel() is True
    with pytest.raises(TaskCancelled):
        handle.wait(timeout=30)
    assert time.monotonic() - started < 10 and notes(key) == ["started"]
    # In a runner process (a task with a timeout), blocked where no exception reaches: killed.
    deaf_key = f"cancel-deaf-{uuid.uuid4()}"
    deaf = tasks.deaf_within_timeout(60, deaf_key)
    wait_until(lambda: notes(deaf_key) == ["started"], 60, "the deaf task to start")
    deaf.cancel()
    with pytest.raises(TaskCancelled):
        deaf.wait(timeout=30)
    # The pool process that ran them goes on.
    assert tasks.add(1, 1).wait(timeout=60) == 2


def test_queues_go_to_the_celery_queue_of_the_same_name(broker):
    reports = tasks.add.using(queue_name="reports")(3, 4)
    unserved = tasks.add.using(queue_name="unserved")(5, 6)
    assert reports.wait(timeout=60) == 7
    assert reports.queue_name == "reports"
    # Its message waits in the broker's queue "unserved", which no worker takes.
    assert wiring.empty_queues(["unserved"]) == set()
    assert Task.objects.get(pk=unserved.id).status == QUEUED
    from autotask import timeutil
    from autotask.counts import count_tasks

    if broker.startswith("redis"):  # the message itself: JSON, the task's id and nothing else
        import base64
        import json

        import redis

        client = redis.Redis.from_url(broker)
        [key] = [k for k in client.keys("unserved*") if client.type(k) == b"list"]
        [raw] = client.lrange(key, 0, -1)
        message = json.loads(raw)
        assert message["content-type"] == "application/json"
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert args == [str(unserved.id)] and kwargs == {}
        assert message["headers"]["task"] == "autotask.run"
    for exact in (False, True):  # the dashboard counts it waiting
        counted = count_tasks("default", timeutil.now(), exact=exact).statuses
        assert QUEUED not in counted and counted[WAITING].value == 1
    assert unserved.cancel() is True


def test_a_message_delivered_twice_runs_its_task_once(broker):
    key = f"twice-{uuid.uuid4()}"
    handle = tasks.record(key)
    row = Task.objects.filter(pk=handle.id).values("id", "run_at", "queue_name", "priority").get()
    for _ in range(3):
        wiring.send(row)  # the same message again, as a broker may deliver it
    assert handle.wait(timeout=60) == key
    _handled(handle.id, times=4)  # the hand-over's message and the three others
    assert notes(key) == [""] and handle.attempts == 1


def test_transactional_enqueue(broker):
    handed_over = []
    hook = engine.handover
    engine.handover = lambda ids, rows=None: (handed_over.extend(ids), hook(ids, rows))
    try:
        key = f"rolled-back-{uuid.uuid4()}"
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                rolled_back = tasks.record(key)
                raise RuntimeError("roll back")
        assert not Task.objects.filter(pk=rolled_back.id).exists() and rolled_back.id not in handed_over
        with transaction.atomic():
            committed = tasks.record(f"committed-{uuid.uuid4()}")
            assert handed_over == []  # not before the commit
        assert handed_over == [committed.id]
        assert committed.wait(timeout=60)
        assert notes(key) == []  # (it had no row, and no message)
    finally:
        engine.handover = hook


def test_priorities_map_onto_the_brokers_range():
    assert wiring.celery_priority(100, "amqp://x") == 9 and wiring.celery_priority(-100, "amqp://x") == 0
    assert wiring.celery_priority(0, "amqp://x") == 5
    assert wiring.celery_priority(100, "redis://x") == 0 and wiring.celery_priority(-100, "redis://x") == 9


def test_a_high_priority_task_goes_first(broker, celery_processes):
    """One pool process, busy: of the tasks waiting in its queue, the urgent one starts first."""
    busy = tasks_celery.sleep_in_steps.using(queue_name="ranked")(2, f"busy-{uuid.uuid4()}")
    key = f"ranked-{uuid.uuid4()}"
    low = [tasks.record.using(queue_name="ranked", priority=-50)(key, f"low {i}") for i in range(5)]
    urgent = tasks.record.using(queue_name="ranked", priority=100)(key, "urgent")
    wait_until(lambda: Task.objects.filter(pk=urgent.id, status=QUEUED).exists(), 30, "the hand-over")
    celery_processes.celery_worker(broker, "ranked", "-P", "solo", name="ranked")
    assert urgent.wait(timeout=60) == key
    wait_until(lambda: all(h.status == DONE for h in low), 60, "the others")
    assert notes(key)[0] == "urgent"
    assert busy.wait(timeout=60) == "finished"


def test_a_killed_celery_worker_loses_nothing(broker, celery_processes):
    """SIGKILL of the whole Celery worker mid-task: autotask's lease recovery runs the task again
    (its run was an attempt: it counts, as a lost worker's does)."""
    key = f"killed-{uuid.uuid4()}"
    doomed = celery_processes.celery_worker(broker, "doomed", "-P", "prefork", "-c", "1", name="doomed")
    handle = tasks_celery.slow_once.using(queue_name="doomed")(key, 30)
    wait_until(lambda: notes(key) == ["started"], 60, "the task to start")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)
    # Not asserted RUNNING here: another worker's dispatcher on this host may recover the run
    # at once, its pid being gone (``queue.recover_lost``); the row below says it was lost.
    celery_processes.celery_worker(broker, "doomed", "-P", "threads", "-c", "2", name="heir")
    assert handle.wait(timeout=90) == 2
    row = Task.objects.get(pk=handle.id)
    assert row.losses == 1 and row.attempts == 2 and notes(key) == ["started", "started"]


def test_schedules_run_once_per_due_time_with_two_celery_workers(broker, celery_processes):
    for name in ("first", "second"):
        celery_processes.celery_worker(
            broker, "scheduled", "-P", "threads", "-c", "2", "--include", "tests.schedule_tasks_celery", name=name
        )
    wait_until(lambda: Note.objects.filter(key="celery_every_second").count() >= 4, 60, "four runs of the schedule")
    for process in celery_processes.started:
        os.killpg(process.pid, signal.SIGTERM)
    for process in celery_processes.started:
        process.wait(timeout=60)
    runs = Task.objects.filter(function="tests.schedule_tasks_celery.every_second")
    due_times = list(runs.values_list("due_at", flat=True))
    assert len(due_times) == len(set(due_times))  # one run per due time
    done = runs.filter(status=DONE).count()
    assert Note.objects.filter(key="celery_every_second").count() == done  # each ran once
    pids = set(Note.objects.filter(key="celery_every_second").values_list("pid", flat=True))
    assert pids  # ran by the Celery workers, whichever took each message


def test_run_autotask_refuses_in_celery_mode():
    with pytest.raises(CommandError, match="AUTOTASK_ENGINE is 'celery'"):
        call_command("run_autotask")


def test_system_checks_of_celery_mode():
    from autotask.contrib.celery.checks import check

    assert check() == []
    with override_settings(AUTOTASK_CELERY_APP="tests.no_such_module.app"):
        assert [m.id for m in check()] == ["autotask.E010"]
    with override_settings(AUTOTASK_CELERY_APP=None):
        assert [m.id for m in check()] == ["autotask.E010"]
    app.conf.task_serializer = "pickle"
    app.conf.result_backend = "redis://127.0.0.1:6379/0"
    app.conf.CELERY_DB_REUSE_MAX = None
    try:
        assert sorted(m.id for m in check()) == ["autotask.E011", "autotask.W010", "autotask.W011"]
    finally:
        app.conf.task_serializer = "json"
        app.conf.result_backend = None
        app.conf.CELERY_DB_REUSE_MAX = settings.CELERY_DB_REUSE_MAX


def _core_handle_checks() -> None:
    """What a project sees of its tasks, whichever engine runs them."""
    added = tasks.add(2, 3)
    assert added.wait(timeout=60) == 5 and added.status == DONE and added.attempts == 1
    progress = tasks.report_progress()
    assert progress.wait(timeout=60) == {"id": str(progress.id), "progress": 50} and progress.progress == 100
    failed = tasks.fail_with_value_error("no")
    with pytest.raises(ValueError, match="no"):
        failed.wait(timeout=60)
    assert failed.status == ERROR and "ValueError: no" in failed.traceback
    key = f"core-retry-{uuid.uuid4()}"
    retried = tasks.fail_twice_then_succeed(key)
    assert retried.wait(timeout=60) == "third time lucky" and retried.attempts == 3
    with pytest.raises(TaskTimeout):
        tasks.sleep_past_timeout(30).wait(timeout=60)
    later = tasks.delayed_record(f"core-later-{uuid.uuid4()}")
    assert later.status == WAITING and later.cancel() is True and later.status == CANCELLED


@pytest.mark.parametrize("engine_name", ["autotask", "celery"])
def test_the_same_handle_checks_pass_under_both_engines(broker, processes, engine_name):
    with override_settings(AUTOTASK_ENGINE=engine_name):
        if engine_name == "autotask":
            assert engine.handover is None
            processes.worker()
        _core_handle_checks()


def test_run_now_and_cancel_from_the_admin_reach_handed_over_tasks(broker):
    from autotask import operations

    key = f"run-now-{uuid.uuid4()}"
    later = tasks.record.using(delay=600)(key)
    doomed = tasks.record.using(delay=600)(f"admin-cancel-{uuid.uuid4()}")
    wait_until(lambda: Task.objects.filter(pk__in=[later.id, doomed.id], status=QUEUED).count() == 2, 30, "the hand-over")
    assert operations.run_tasks_now(Task.objects.filter(pk=later.id))["moved"] == 1
    assert later.wait(timeout=60) == key  # sent again by a dispatcher, long before its ETA
    assert operations.cancel_tasks(Task.objects.filter(pk=doomed.id))["cancelled"] == 1
    assert doomed.status == CANCELLED
