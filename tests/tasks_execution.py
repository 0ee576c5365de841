"""Fixture tasks of the execution tests (threads, processes, interrupts)."""

import ctypes
import os
import signal
import threading
import time

import autotask
from autotask.tasks import delayed_task

from .models import Note

PATIENCE = 120  # seconds a task waits for the test at most


def _arrive(key):
    Note.objects.create(key=key, value=f"{threading.get_ident()}", pid=os.getpid())


def _wait_for(condition, what):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {PATIENCE} s for {what}")
        time.sleep(0.02)


@delayed_task()
def meet(key, parties):
    """Arrive, then wait until ``parties`` tasks of ``key`` have arrived: they all run at once, or this
    never returns (within PATIENCE). Reads ``current_task()`` all along: it must stay this task's."""
    me = autotask.current_task().id
    _arrive(key)
    _wait_for(lambda: Note.objects.filter(key=key).count() >= parties, f"{parties} parties")
    _wait_for(lambda: Note.objects.filter(key=f"release-{key}").exists(), "the release")
    assert autotask.current_task().id == me, "current_task() changed during the run"
    return [os.getpid(), threading.get_ident(), str(me)]


@delayed_task()
def pause(seconds):
    """Sleep ``seconds``, then say which thread ran it."""
    time.sleep(seconds)
    return threading.get_ident()


@delayed_task(retries=1)
def hold(key):
    """Run until the test creates the note ``release-<key>``."""
    _arrive(key)
    _wait_for(lambda: Note.objects.filter(key=f"release-{key}").exists(), "the release")
    return key


@delayed_task(timeout=60)
def current_task_in_runner(key):
    _arrive(key)
    return str(autotask.current_task().id)


@delayed_task()
def loop_catching_exception(key):
    """A loop that logs and goes on whatever is raised in it, as much code does."""
    _arrive(key)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except Exception:
            pass
    return "not cancelled"


def _block_in_c(key, seconds):
    """Like C code that never returns to Python and ignores signals."""
    _arrive(key)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT})
    ctypes.CDLL(None).sleep(seconds)
    return "not reached"


@delayed_task()
def blocked_in_c(key, seconds=600):
    return _block_in_c(key, seconds)


@delayed_task(retries=3)
def blocked_in_c_with_retries(key, seconds=600):
    return _block_in_c(key, seconds)
