"""How a run's outcome is written (``queue.finish``): alone, as one conditional UPDATE,
when nothing else is written with it; the whole way (a transaction that also settles
the tasks waiting for it) otherwise. The workers' tests run both; these pin the choice."""

import datetime as dt
import json

import pytest
from django.db import connection

from autotask import queue, timeutil
from autotask.models import Task
from autotask.queue import Outcome, record
from autotask.queue.claim import _claim_statement
from autotask.queue.store import set_progress
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

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


def test_a_batch_of_runs_is_written_as_each_run_alone_would_be():
    """A batch's records are one statement on PostgreSQL (the others run one per run): every
    kind of outcome in one batch, against the same runs recorded one at a time."""
    worker = queue.WorkerIdentity.new()
    now = timeutil.now()
    long_text = "Ünïcode 'quotes' \"double\" %s %(name)s \\ back\nslash " * 200
    outcomes = [
        Outcome(DONE, result='{"value": [1, 2]}'),
        Outcome(DONE, result=None),
        Outcome(ERROR, error_message=long_text, exception_class="tests.Boom", traceback=long_text),
        Outcome(WAITING, error_message="again", exception_class="ValueError", retry_at=now + dt.timedelta(minutes=5)),
        Outcome(WAITING, error_message="handed back: its worker stopped", attempts_delta=-1),
        Outcome(CANCELLED, error_message="cancelled"),
    ]

    def recorded(one_at_a_time: bool) -> list[dict]:
        handles = [tasks.add(index, 1) for index in range(len(outcomes))]
        runs = []
        for index, (handle, outcome) in enumerate(zip(handles, outcomes)):
            task = claimed(handle, worker)
            task["started_at"], task["finished_at"] = now, now + dt.timedelta(seconds=index)
            if index == 2:
                set_progress(handle.id, 40)  # reported by the task: an ERROR keeps it
            runs.append((task, outcome))
        if one_at_a_time:
            for run in runs:
                assert list(queue.finish(worker, [run])) == [True]
        else:
            assert list(queue.finish(worker, runs)) == [True] * len(runs)
        rows = [Task.objects.filter(pk=handle.id).values(*COMPARED).get() for handle in handles]
        for row, (task, outcome) in zip(rows, runs):  # a finished run's due time stays; enqueued just now, it differs
            if outcome.status != WAITING:
                assert row.pop("run_at") == task["run_at"]
        return rows

    batch, alone = recorded(one_at_a_time=False), recorded(one_at_a_time=True)
    assert batch == alone
    done, done_none, failed, retried, handed_back, cancelled = batch
    assert (done["status"], done["result"], done["progress"]) == (DONE, '{"value": [1, 2]}', 100)
    assert done["expires_at"] is not None and done_none["result"] is None
    assert (failed["status"], failed["error_message"], failed["traceback"], failed["progress"]) == (ERROR, long_text, long_text, 40)
    assert (retried["status"], retried["run_at"], retried["attempts"]) == (WAITING, now + dt.timedelta(minutes=5), 1)
    assert (handed_back["status"], handed_back["attempts"], handed_back["run_at"]) == (WAITING, 0, now + dt.timedelta(seconds=4))
    assert cancelled["status"] == CANCELLED
    assert all(row["worker_id"] is None for row in batch)


COMPARED = (
    "status", "started_at", "finished_at", "run_at", "expires_at", "result", "error_message", "exception_class",
    "traceback", "progress", "attempts", "runner_pid", "worker_id",
)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_claims_and_records_reach_their_rows_through_the_primary_key_on_postgresql():
    """Neither reads the whole table: on a table of a few thousand rows, PostgreSQL's planner
    read all of them for a claim written "id IN (SELECT ...)" and for the batch record."""
    now = timeutil.now()
    Task.objects.bulk_create([
        Task(function="tests.tasks.add", status=DONE if index % 2 else WAITING, run_at=now, created_at=now)
        for index in range(6000)
    ])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE autotask_task")
    worker = queue.WorkerIdentity.new()
    sql, _ = _claim_statement(connection.alias, "postgresql", 0)
    params = [RUNNING, worker.id, worker.label, now, False, WAITING, now, 64]
    assert "Seq Scan" not in explained(sql, params)
    runs = [(dict(task, finished_at=now), Outcome(DONE, result="3")) for task in queue.claim(worker, 64)]
    records = json.dumps([{"id": str(task["id"]), "status": DONE, "attempts": 0} for task, _ in runs])
    assert "Seq Scan" not in explained(record._json_update(connection.alias), [records])
    assert list(queue.finish(worker, runs)) == [True] * 64


def explained(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("runs", [1, 3])
@pytest.mark.parametrize("odd, written", [("\x00", "\\x00"), ("\udcff", "\\udcff")])
def test_an_error_with_a_nul_or_a_lone_surrogate_is_recorded_with_it_written_out(runs, odd, written):
    """PostgreSQL's text columns refuse NUL, and UTF-8 can't hold a lone surrogate (``os.fsdecode``
    makes them of undecodable bytes): such a record failed on every try, and its task (and the
    runs recorded with it) stayed RUNNING."""
    worker = queue.WorkerIdentity.new()
    handles = [tasks.add(1, index) for index in range(runs)]
    outcome = Outcome(ERROR, error_message=f"bad{odd}name", exception_class="ValueError", traceback=f"line{odd}")
    held = queue.finish(worker, [(claimed(handle, worker), outcome) for handle in handles])
    assert list(held) == [True] * runs
    for handle in handles:
        row = Task.objects.get(pk=handle.id)
        assert (row.status, row.error_message, row.traceback) == (ERROR, f"bad{written}name", f"line{written}")

