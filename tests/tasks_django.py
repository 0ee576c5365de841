"""Fixture tasks of Django's tasks framework (``@task``), run by autotask's workers.

Imported like an application's tasks module: from ``django.tasks`` on Django 6,
from the ``django-tasks`` backport on Django 5.2.
"""

import asyncio
import json
import logging
import os
import time

from django.dispatch import receiver

try:
    from django.tasks import task
    from django.tasks.signals import task_finished, task_started
except ImportError:
    from django_tasks import task
    from django_tasks.signals import task_finished, task_started

import autotask

from .models import Note


@task
def add(a, b):
    return a + b


@task(priority=-5, queue_name="mail")
def echo(*args, **kwargs):
    return {"args": args, "kwargs": kwargs}


@task
def talk(text):
    print(text)
    logging.getLogger("tests.talk").info("said %s", text)
    return text


@task
def record(key, value=""):
    Note.objects.create(key=key, value=value, pid=os.getpid())
    return key


@task
def fail_with_value_error(message="bad value"):
    raise ValueError(message)


@task(backend="retrying", takes_context=True)
def fail_twice_then_succeed(context, key):
    """Fails on its first two attempts; TASKS["retrying"] allows two retries."""
    Note.objects.create(key=key, value=str(context.attempt), pid=os.getpid())
    if context.attempt < 3:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return context.attempt


@task(backend="timing_out")
def sleep_past_timeout(seconds):
    time.sleep(seconds)
    return "not reached"


@task(takes_context=True)
def describe_context(context, key):
    Note.objects.create(key=key, value=context.task_result.status, pid=os.getpid())
    return {"attempt": context.attempt, "id": context.task_result.id, "status": context.task_result.status}


@task
async def async_add(a, b):
    await asyncio.sleep(0.01)
    return a + b


def _wait_for_note(key, value, timeout=60):
    deadline = time.monotonic() + timeout
    while not Note.objects.filter(key=key, value=value).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no note {key}={value} within {timeout} s")
        time.sleep(0.02)


@task
def wait_for_go(key):
    """Says it started, reports progress, and finishes once the test writes a "go" note."""
    Note.objects.create(key=key, value="started", pid=os.getpid())
    autotask.current_task().set_progress(40)
    _wait_for_note(key, "go")
    return "went"


@task(backend="retrying")
def sleep_on_first_attempt(key):
    """The first attempt sleeps (for its worker to be killed); the next returns."""
    first = not Note.objects.filter(key=key).exists()
    Note.objects.create(key=key, value="started", pid=os.getpid())
    if first:
        time.sleep(120)
    return "recovered"


@task
def signalled(key):
    return key


@task
def signalled_with_raising_receivers(key):
    return key


# Receivers, in every process that imports this module: the worker writes a note of
# each signal it sends for ``signalled``; for ``signalled_with_raising_receivers``
# they raise.
@receiver(task_started, dispatch_uid="tests.tasks_django.started")
def note_started(sender, task_result, **kwargs):
    _note_or_raise("started", sender, task_result)


@receiver(task_finished, dispatch_uid="tests.tasks_django.finished")
def note_finished(sender, task_result, **kwargs):
    _note_or_raise("finished", sender, task_result)


def _note_or_raise(signal_name, sender, task_result):
    if task_result.task.func is signalled.func:
        seen = {
            "signal": f"{signal_name} {sender.__name__} {task_result.status}",
            "times": [
                t and t.timestamp() for t in (task_result.enqueued_at, task_result.started_at, task_result.finished_at)
            ],
            "args": task_result.args,
            "workers": task_result.worker_ids,
            "value": task_result.return_value if task_result.is_finished else None,
        }
        Note.objects.create(key=f"signal:{task_result.id}", value=json.dumps(seen), pid=os.getpid())
    elif task_result.task.func is signalled_with_raising_receivers.func:
        raise RuntimeError(f"a {signal_name} receiver that raises")
