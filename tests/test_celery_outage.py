"""Celery mode with a Redis of the test's own: a broker stopped while calls are made, and
started again, loses nothing; a dependent is handed over when its dependency ends, not at a
dispatcher's next look.

The broker is a Redis server of the test's own (on a free port, keeping nothing on disk,
as the machine's), so that stopping it disturbs no other test run that shares the
machine's Redis (``make test`` runs the databases' suites at once).
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from django.test import override_settings

from autotask.models import Task
from autotask.task import BLOCKED, DONE, QUEUED, WAITING

from . import tasks
from .conftest import wait_until
from .models import Note

pytest.importorskip("celery")

from .test_celery import CeleryWorkers, _run, _use_broker  # noqa: E402  (needs Celery)

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_redis(port: int) -> None:
    _run(
        "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
        "no", "--dir", "/tmp", "--logfile", f"/tmp/autotask-test-redis-{port}.log",
    )


def _up(port: int) -> bool:
    return _run("redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping").stdout.strip() == "PONG"


def _stop(port: int) -> None:
    _run("redis-cli", "-h", "127.0.0.1", "-p", str(port), "shutdown", "nosave")


@pytest.fixture
def own_redis(tmp_path):
    """(port, url) of a Redis of the test's own, used by this process; stopped at the end."""
    port = _free_port()
    _start_redis(port)
    try:
        wait_until(lambda: _up(port), 30, "the test's Redis to start")
        url = f"redis://127.0.0.1:{port}/0"
        with override_settings(AUTOTASK_ENGINE="celery"):
            _use_broker(url)
            yield port, url
    finally:
        _stop(port)


@pytest.fixture
def workers(tmp_path):
    started = CeleryWorkers(tmp_path)
    yield started
    started.stop_all()


def test_a_stopped_broker_loses_nothing(own_redis, workers):
    port, url = own_redis
    worker = workers.celery_worker(url, "default", "-P", "prefork", "-c", "1", name="outage")
    assert tasks.add(1, 2).wait(timeout=60) == 3
    _stop(port)
    wait_until(lambda: not _up(port), 30, "the test's Redis to stop")
    key = f"outage-{uuid.uuid4()}"
    started = time.monotonic()
    handles = [tasks.record(key, str(i)) for i in range(5)]
    assert time.monotonic() - started < 10  # a call doesn't wait for the broker
    assert {h.status for h in handles} == {WAITING}
    assert not Task.objects.filter(pk__in=[h.id for h in handles], status=QUEUED).exists()
    wait_until(  # the Celery worker's dispatcher tries, and fails, meanwhile
        lambda: "can't hand tasks to Celery" in workers.log(worker), 60, "the dispatcher's failed hand-over"
    )
    _start_redis(port)
    wait_until(lambda: _up(port), 30, "the test's Redis to start again")
    for handle in handles:
        assert handle.wait(timeout=120) == key  # handed over by the Celery worker's dispatcher
    assert sorted(Note.objects.filter(key=key).values_list("value", flat=True)) == [str(i) for i in range(5)]


def test_a_released_dependent_is_handed_over_by_the_run_that_released_it(own_redis, workers):
    _, url = own_redis
    # Its dispatcher looks once, at the start, then not for ten minutes.
    workers.celery_worker(url, "default", "-P", "prefork", "-c", "1", name="deps", dispatch_interval="600")
    key = f"deps-{uuid.uuid4()}"
    first = tasks.sleep_for(2, key)  # still running when the dependent is stored
    then = tasks.record.using(after=[first])(key, "then")
    assert Task.objects.get(pk=then.id).status == BLOCKED
    assert then.wait(timeout=60) == key  # not after ten minutes
    assert first.status == DONE
