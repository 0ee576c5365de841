"""How a run's outcome is written (``queue.finish``): alone, as one conditional UPDATE,
when nothing else is written with it; the whole way (a transaction that also settles
the tasks waiting for it) otherwise. The workers' tests run both; these pin the choice."""

import pytest

from autotask import queue, timeutil
from autotask.models import Task
from autotask.queue import Outcome
from autotask.task import DONE, RUNNING, WAITING

from . import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def claimed(handle, worker):
    task = queue.claim_task(worker, handle.id)
    task["started_at"] = task["finished_at"] = timeutil.now()
    return task


def test_a_run_recorded_alone_is_one_statement(django_assert_num_queries):
    worker = queue.WorkerIdentity.new()
    handle = tasks.add(1, 2)
    task = claimed(handle, worker)
    with django_assert_num_queries(1):
        held = queue.finish(worker, [(task, Outcome(DONE, result="3"))])
    assert list(held) == [True]
    assert handle.status == DONE and handle.result == 3 and handle.progress == 100


def test_a_run_others_wait_for_is_recorded_the_whole_way_and_releases_them():
    worker = queue.WorkerIdentity.new()
    first = tasks.add(1, 2)
    then = tasks.add.using(after=[first])(3, 4)
    task = claimed(first, worker)
    held = queue.finish(worker, [(task, Outcome(DONE, result="3"))])
    assert list(held) == [True] and held.released == 1
    assert first.status == DONE and Task.objects.get(pk=then.id).status == WAITING


def test_a_run_no_longer_held_is_not_recorded():
    worker, other = queue.WorkerIdentity.new(), queue.WorkerIdentity.new()
    handle = tasks.add(1, 2)
    task = claimed(handle, worker)
    held = queue.finish(other, [(task, Outcome(DONE, result="3"))])
    assert list(held) == [False]
    assert Task.objects.get(pk=handle.id).status == RUNNING
