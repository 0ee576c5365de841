"""Fixture tasks, named for what they do."""

import datetime as dt
import os
import signal
import time

import autotask
from autotask.tasks import delayed_task

from .models import Note


@delayed_task()
def noop():
    return None


@delayed_task()
def add(a, b):
    return a + b


@delayed_task()
def echo(*args, **kwargs):
    return [args, kwargs]


@delayed_task()
def record(key, value=""):
    Note.objects.create(key=key, value=value, pid=os.getpid())
    return key


@delayed_task()
def fail_with_value_error(message="bad value"):
    raise ValueError(message)


@delayed_task(retries=2)
def fail_twice_then_succeed(key):
    Note.objects.create(key=key, pid=os.getpid())
    if Note.objects.filter(key=key).count() < 3:
        raise RuntimeError(f"attempt {Note.objects.filter(key=key).count()} fails")
    return "third time lucky"


@delayed_task()
def sleep_for(seconds, key=""):
    if key:
        Note.objects.create(key=key, value="started", pid=os.getpid())
    time.sleep(seconds)
    return seconds


@delayed_task(retries=1)
def sleep_for_with_retry(seconds, key=""):
    Note.objects.create(key=key, value="started", pid=os.getpid())
    time.sleep(seconds)
    return seconds


@delayed_task(timeout=0.5)
def sleep_past_timeout(seconds):
    time.sleep(seconds)
    return "not reached"


def _block_signals_and_sleep(seconds, key):
    """Like C code that blocks without looking at signals: no exception can stop it."""
    Note.objects.create(key=key, value="started", pid=os.getpid())
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT})
    time.sleep(seconds)
    return "not reached"


@delayed_task(timeout=4)  # long enough for a loaded machine's runner to start it
def deaf_past_timeout(seconds, key):
    return _block_signals_and_sleep(seconds, key)


@delayed_task(timeout=600)
def deaf_within_timeout(seconds, key):
    return _block_signals_and_sleep(seconds, key)


@delayed_task(timeout=60)
def exit_process(code, key):
    Note.objects.create(key=key, value="exited", pid=os.getpid())
    os._exit(code)


_kept = []


@delayed_task(timeout=60)
def keep_memory(megabytes):
    """Leaves ``megabytes`` of memory held by the process that ran it."""
    _kept.append(bytearray(megabytes * 1024 * 1024))


@delayed_task(timeout=60)
def runner_pid(key):
    Note.objects.create(key=key, value=str(autotask.current_task().id), pid=os.getpid())
    return os.getpid()


@delayed_task()
def report_progress():
    task = autotask.current_task()
    task.set_progress(50)
    return {"id": str(task.id), "progress": task.progress}


@delayed_task()
def return_unstorable():
    return object()


@delayed_task()
def return_types():
    return {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "t": (1, 2), "s": {3}}


@delayed_task(delay=1.5)
def delayed_record(key):
    Note.objects.create(key=key, pid=os.getpid())


@delayed_task(retries=3)
def record_retrying(key):
    Note.objects.create(key=key, pid=os.getpid())
    return key
