"""Transactional enqueue: workers see a call only after the commit; a rollback removes it."""

import threading

import pytest
from django.db import connection, connections, transaction

from autotask.tasks import DelayedTask

from . import tasks
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def elsewhere(action):
    """Run ``action`` on another thread, so on another database connection."""
    result, error = [], []

    def run():
        try:
            result.append(action())
        except BaseException as exc:  # re-raised in the test
            error.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if error:
        raise error[0]
    return result[0]


def test_a_call_inside_a_transaction_is_seen_only_after_commit(processes):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: an open write transaction blocks the other connection")
    processes.worker()
    with transaction.atomic():
        inside = tasks.record("inside")
        outside_id = elsewhere(lambda: tasks.record("outside").id)
        # The worker ran a later, committed call while this one stayed invisible.
        assert elsewhere(lambda: DelayedTask(outside_id).wait(timeout=60)) == "outside"
        assert elsewhere(lambda: DelayedTask(inside.id).status) is None
    assert inside.wait(timeout=60) == "inside"


def test_a_rolled_back_call_never_runs(processes):
    processes.worker()
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            rolled_back = tasks.record("rolled-back")
            1 / 0
    assert tasks.record("after").wait(timeout=60) == "after"
    assert rolled_back.status is None
    assert not Note.objects.filter(key="rolled-back").exists()
