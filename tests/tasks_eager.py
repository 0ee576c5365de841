"""Fixture tasks of tests/test_eager.py (``AUTOTASK_EAGER``)."""

import os

from django.db import connection

import autotask
from autotask.tasks import delayed_task

from . import tasks
from .models import Note


@delayed_task(name="eager double")
def double(x):
    return 2 * x


@delayed_task(delay=3600)
def record_in_an_hour(key):
    Note.objects.create(key=key, pid=os.getpid())
    return key


@delayed_task()
def report_progress(percent):
    """Records progress and returns what its own handle says while it runs."""
    me = autotask.current_task()
    me.set_progress(percent)
    return [str(me.id), me.status, me.progress]


@delayed_task()
def read_note(key):
    """The value of the Note ``key``, as the task's connection sees it (None if there is none)."""
    note = Note.objects.filter(key=key).first()
    return None if note is None else note.value


@delayed_task(retries=2)
def fail_every_time(key):
    Note.objects.create(key=key, pid=os.getpid())
    raise RuntimeError(f"attempt {Note.objects.filter(key=key).count()} of {key} fails")


@delayed_task()
def record_then_fail(key):
    Note.objects.create(key=key, pid=os.getpid())
    raise ValueError(f"{key} failed after writing")


@delayed_task()
def record_then_break_the_transaction(key):
    """Writes a row, then fails with a database error (which, on PostgreSQL, aborts the transaction)."""
    Note.objects.create(key=key, pid=os.getpid())
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")


@delayed_task()
def call_record(key):
    """Calls another task from inside this one and returns what its handle says then."""
    inner = tasks.record(key)
    return [str(inner.id), inner.status, inner.result]


def triple(x):
    """Undecorated: tests decorate it under the settings they test."""
    return 3 * x
