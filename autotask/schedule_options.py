"""What each run of a schedule is stored with, validated at decoration.

``@periodic_task(..., timeout=, retries=, ttl=, queue_name=, priority=,
args=(), kwargs={}, retry_delay=...)`` and the same for ``@cron_task``: the
checks are ``TaskOptions``' and ``RetryPolicy``'s, the arguments must fit the
function's signature and be storable. The options are stored on the schedule's
row (``sync``) and copied into the task row of each run (``claim_due``); the
retry policy stays in memory with the registered schedule, as a delayed
task's does. All of it is part of the schedule's signature: a change counts as
a changed schedule.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import serialization
from .loader import full_name
from .options import DEFAULT_QUEUE, TaskOptions
from .retry import RetryPolicy

NO_ARGUMENTS = '{"args":[],"kwargs":{}}'


@dataclass(frozen=True)
class RunOptions:
    """The options of a schedule's runs; ``ttl`` None means ``AUTOTASK_SCHEDULE_RUN_TTL``."""

    timeout: float | None = None
    retries: int = 0
    ttl: int | None = None
    queue_name: str = DEFAULT_QUEUE
    priority: int = 0
    arguments: str = NO_ARGUMENTS  # JSON, as ``serialization.dumps_call`` writes a call's arguments

    def __post_init__(self) -> None:
        TaskOptions(
            retries=self.retries, ttl=0 if self.ttl is None else self.ttl, timeout=self.timeout,
            priority=self.priority, queue_name=self.queue_name,
        )

    def row_fields(self) -> dict[str, Any]:
        """The Schedule row's columns that hold these options."""
        return {
            "timeout": self.timeout, "retries": self.retries, "ttl": self.ttl, "queue_name": self.queue_name,
            "priority": self.priority, "arguments": self.arguments,
        }


DEFAULT = RunOptions()


def build(
    *, timeout: float | None, retries: int, ttl: int | None, queue_name: str, priority: int,
    args: Iterable[Any], kwargs: dict[str, Any] | None, retry_delay: float | None, retry_backoff: float,
    retry_jitter: bool, retry_max_delay: float | None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None,
    no_retry_on: Iterable[type[BaseException]] | type[BaseException],
) -> tuple[RunOptions, RetryPolicy, tuple[Any, ...], dict[str, Any]]:
    """Check a schedule decorator's options; return them with its run's arguments."""
    if isinstance(args, (str, bytes, dict)) or not isinstance(args, (tuple, list)):
        raise TypeError(f"args must be a tuple or list of the arguments of every run, got {args!r}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise TypeError(f"kwargs must be a dict of keyword arguments of every run, got {kwargs!r}")
    args = tuple(args)
    arguments = serialization.dumps_call(args, kwargs, lambda index: f"args[{index}]")
    options = RunOptions(timeout, retries, ttl, queue_name, priority, arguments)
    policy = RetryPolicy.build(retry_delay, retry_backoff, retry_jitter, retry_max_delay, retry_on, no_retry_on)
    return options, policy, args, kwargs


def check_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A run's arguments must fit the function: a ``TypeError`` at decoration, not in every run."""
    try:
        inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"args={args!r}, kwargs={kwargs!r} don't fit {func.__qualname__}{inspect.signature(func)}: {exc}") from None


def _policy_text(policy: RetryPolicy) -> str:
    classes = lambda value: ",".join(full_name(cls) for cls in value or ())  # noqa: E731
    return (
        f"{policy.delay!r}|{policy.backoff!r}|{policy.jitter!r}|{policy.max_delay!r}|"
        f"{None if policy.retry_on is None else classes(policy.retry_on)}|{classes(policy.no_retry_on)}"
    )


OPTIONS_MARK = "|options:"


def signature(base: str, options: RunOptions, policy: RetryPolicy) -> str:
    """``base`` (the schedule's timing), with a hash of the options where they aren't the defaults.

    At most 255 characters (the column's size): a longer one ends in a hash of the whole.
    """
    full = base
    if options != DEFAULT or policy != RetryPolicy():
        fields = options.row_fields()
        text = "|".join(f"{name}={fields[name]!r}" for name in sorted(fields)) + "|" + _policy_text(policy)
        full = f"{base}{OPTIONS_MARK}{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if len(full) <= 255:
        return full
    return f"{full[:238]}#{hashlib.sha256(full.encode()).hexdigest()[:16]}"


def timing(signature: str) -> str:
    """The timing part of a stored ``signature`` (what ``signature()`` was given as ``base``)."""
    return signature.split(OPTIONS_MARK, 1)[0]
