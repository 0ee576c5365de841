"""Retry policies with real workers: backoff, a cap with jitter, retry_on / no_retry_on, Retry(delay=...).

Delays are checked as bounds: a retry starts no sooner than its delay after the
failed attempt started (a lower bound, whatever the machine's speed), and the
stored time of the last retry is at most its delay after that attempt ended.
"""

import pytest

import autotask
from autotask import TaskError
from autotask.models import Task
from autotask.tasks import delayed_task
from autotask.task import DONE, ERROR

from . import tasks_promises

pytestmark = pytest.mark.django_db(transaction=True)


def start_gaps(handle):
    starts = [attempt.started_at for attempt in handle.attempts_history]
    return [(later - earlier).total_seconds() for earlier, later in zip(starts, starts[1:])]


def last_retry_delay(handle):
    """How long after the last failed attempt ended its retry was due (the row keeps that due time)."""
    row = Task.objects.get(pk=handle.id)
    return (row.run_at - handle.attempts_history[-2].finished_at).total_seconds()


def test_backoff_multiplies_each_delay(processes):
    processes.worker()
    handle = tasks_promises.fail_with_backoff("backoff")
    with pytest.raises(RuntimeError, match="attempt 4 fails"):
        handle.wait(timeout=120)
    assert handle.attempts == 4
    gaps = start_gaps(handle)
    assert len(gaps) == 3
    for gap, delay in zip(gaps, [0.3, 0.6, 1.2]):  # retry_delay=0.3, retry_backoff=2
        assert gap >= delay, gaps
    assert last_retry_delay(handle) <= 1.2


def test_max_delay_caps_the_backoff_and_jitter_shortens_it(processes):
    processes.worker()
    handle = tasks_promises.fail_with_capped_jittered_backoff("capped")
    with pytest.raises(RuntimeError, match="attempt 3 fails"):
        handle.wait(timeout=120)
    gaps = start_gaps(handle)
    assert gaps[0] >= 0.2 and gaps[1] >= 0.25, gaps  # jitter: half to all of 0.4, then of min(4.0, 0.5)
    assert last_retry_delay(handle) <= 0.5  # without the cap: 4 s


def test_retry_on_and_no_retry_on(processes):
    processes.worker()
    retried = tasks_promises.fail_with("connection", "on-oserror")  # an OSError: retried
    not_listed = tasks_promises.fail_with("value", "not-listed")  # not an OSError
    excluded = tasks_promises.fail_with("missing", "excluded")  # an OSError, but in no_retry_on
    assert retried.wait(timeout=120) == "done after 3"
    with pytest.raises(ValueError):
        not_listed.wait(timeout=60)
    with pytest.raises(FileNotFoundError):
        excluded.wait(timeout=60)
    assert (retried.attempts, not_listed.attempts, excluded.attempts) == (3, 1, 1)
    assert [a.exception_class for a in retried.attempts_history] == ["builtins.ConnectionError"] * 2 + [""]


def test_a_task_asks_for_its_retry_and_its_delay(processes):
    processes.worker()
    handle = tasks_promises.ask_for_retry("asks")
    assert handle.wait(timeout=60) == "retried"  # the policy's delay is an hour: Retry(delay=0.3) won
    first, second = handle.attempts_history
    assert first.exception_class == "autotask.exceptions.Retry" and first.status == ERROR
    assert (second.started_at - first.started_at).total_seconds() >= 0.3
    assert second.status == DONE


def test_retry_without_retries_left_ends_error(processes):
    processes.worker()
    handle = tasks_promises.ask_for_retry.using(retries=0)("no-retries-left")
    with pytest.raises(TaskError, match="Retry: the task asked to be retried"):
        handle.wait(timeout=60)
    assert handle.attempts == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"retry_delay": -1}, "retry_delay must be a number of seconds, 0 or more, got -1"),
        ({"retry_delay": "2"}, "retry_delay must be a number of seconds"),
        ({"retry_backoff": 0.5}, "retry_backoff must be a number, 1 or more"),
        ({"retry_max_delay": -0.1}, "retry_max_delay must be a number of seconds"),
        ({"retry_jitter": "yes"}, "retry_jitter must be True or False, got 'yes'"),
        ({"retry_on": ("IOError",)}, "retry_on must be exception classes, got 'IOError'"),
        ({"no_retry_on": [int]}, "no_retry_on must be exception classes, got <class 'int'>"),
    ],
)
def test_bad_retry_options_are_a_value_error_at_decoration_naming_them(options, message):
    with pytest.raises(ValueError) as info:
        delayed_task(retries=2, **options)
    assert message in str(info.value)


def test_retry_delay_must_be_a_number():
    with pytest.raises(ValueError, match="Retry\\(delay=...\\) must be a number of seconds, 0 or more, got 'soon'"):
        autotask.Retry(delay="soon")
