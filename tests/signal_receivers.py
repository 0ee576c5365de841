"""Imported by worker processes in tests (AUTOTASK_TEST_IMPORT): receivers of autotask's
signals that write what they receive as Note rows, and one that raises."""

import os

from autotask import signals

from .models import Note


def _sender_name(sender):
    return getattr(sender, "path", None) or getattr(sender, "__qualname__", None) or str(sender)


def started(sender, task, **kwargs):
    Note.objects.create(key=f"signal:{task.id}", value=f"started {_sender_name(sender)}", pid=os.getpid())


def finished(sender, task, status, **kwargs):
    Note.objects.create(key=f"signal:{task.id}", value=f"finished {status} {_sender_name(sender)}", pid=os.getpid())


def raises(sender, task, **kwargs):
    raise RuntimeError("a receiver that fails")


signals.task_started.connect(raises, dispatch_uid="tests.raises.started")
signals.task_started.connect(started, dispatch_uid="tests.started")
signals.task_finished.connect(raises, dispatch_uid="tests.raises.finished")
signals.task_finished.connect(finished, dispatch_uid="tests.finished")
