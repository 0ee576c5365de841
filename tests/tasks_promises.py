"""Fixture tasks for wait()'s exceptions, retry policies and the attempts history."""

import os
import time

import autotask
from autotask.tasks import delayed_task

from .models import Note


class QuotaExceeded(Exception):
    """A custom exception built from one message, as most are."""


class NeedsTwo(Exception):
    """A custom exception whose constructor needs two arguments: wait() can't rebuild it."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


@delayed_task()
def raise_value_error(message):
    raise ValueError(message)


@delayed_task()
def raise_key_error(key):
    return {}[key]


@delayed_task()
def raise_quota_exceeded(message):
    raise QuotaExceeded(message)


@delayed_task()
def raise_needs_two(message):
    raise NeedsTwo(message, 42)


@delayed_task()
def open_missing_file(path):
    with open(path):
        pass


@delayed_task(timeout=60)
def raise_in_runner(message):
    raise ValueError(message)


def _note_attempt(key):
    attempt = autotask.current_task().attempts
    Note.objects.create(key=key, value=str(attempt), pid=os.getpid())
    return attempt


@delayed_task(retries=3, retry_delay=0.3, retry_backoff=2.0)
def fail_with_backoff(key):
    raise RuntimeError(f"attempt {_note_attempt(key)} fails")


@delayed_task(retries=2, retry_delay=0.4, retry_backoff=10.0, retry_max_delay=0.5, retry_jitter=True)
def fail_with_capped_jittered_backoff(key):
    raise RuntimeError(f"attempt {_note_attempt(key)} fails")


_ERRORS = {"connection": ConnectionError, "missing": FileNotFoundError, "value": ValueError}


@delayed_task(retries=3, retry_delay=0.1, retry_on=(OSError,), no_retry_on=(FileNotFoundError,))
def fail_with(kind, key):
    """Retried on an OSError, but not on FileNotFoundError (an OSError) and not on anything else."""
    attempt = _note_attempt(key)
    if attempt >= 3:
        return f"done after {attempt}"
    raise _ERRORS[kind](f"{kind} on attempt {attempt}")


@delayed_task(retries=1, retry_delay=3600)
def ask_for_retry(key):
    """Asks for a quick retry itself, though its policy waits an hour."""
    if _note_attempt(key) == 1:
        raise autotask.Retry(delay=0.3)
    return "retried"


@delayed_task(retries=1, retry_delay=3600)
def fail_then_wait_an_hour(key):
    raise RuntimeError(f"attempt {_note_attempt(key)} fails")


@delayed_task(retries=4)
def fail_three_times_then_hang_once(key):
    """Attempts 1-3 raise, attempt 4 sleeps (for its worker to be killed), attempt 5 succeeds."""
    attempt = _note_attempt(key)
    if attempt <= 3:
        raise RuntimeError(f"attempt {attempt} fails")
    if attempt == 4:
        time.sleep(120)
    return attempt


@delayed_task(retries=1, timeout=60)
def fail_once_in_runner(key):
    attempt = _note_attempt(key)
    if attempt == 1:
        raise RuntimeError("first attempt fails")
    return os.getpid()


@delayed_task(ttl=0)
def done_at_once():
    return "gone soon"


@delayed_task(ttl=0)
def fail_at_once():
    raise RuntimeError("kept for AUTOTASK_FAILED_TTL")
