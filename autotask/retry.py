"""Retry policies: whether a failed run is retried, and after how long.

A policy belongs to a task's definition (``@delayed_task(retry_delay=...)``, a
schedule's options, a django.tasks backend's ``OPTIONS``); the number of
retries belongs to each stored call (``retries``, changeable per call with
``.using(retries=...)``). The worker asks the policy after each failed run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable

from .exceptions import Retry


def _exception_classes(name: str, value: Any) -> tuple[type[BaseException], ...]:
    classes = (value,) if isinstance(value, type) else tuple(value)
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise ValueError(f"{name} must be exception classes, got {cls!r}")
    return classes


def _seconds(name: str, value: Any, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number of seconds, 0 or more, got {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed run is retried.

    ``delay``: seconds before the first retry (None: ``AUTOTASK_RETRY_DELAY``);
    each further retry waits ``backoff`` times longer than the one before, at most
    ``max_delay``; ``jitter`` spreads each delay at random between half and all of
    it. ``retry_on``: only failures of these exception classes are retried (None:
    any); ``no_retry_on``: failures of these never are. A task that raises
    ``autotask.Retry(delay=...)`` is retried after that delay.
    """

    delay: float | None = None
    backoff: float = 1.0
    jitter: bool = False
    max_delay: float | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    no_retry_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        _seconds("retry_delay", self.delay)
        _seconds("retry_max_delay", self.max_delay)
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, float)) or self.backoff < 1:
            raise ValueError(f"retry_backoff must be a number, 1 or more (1: the same delay every time), got {self.backoff!r}")
        if not isinstance(self.jitter, bool):
            raise ValueError(f"retry_jitter must be True or False, got {self.jitter!r}")
        if self.retry_on is not None:
            object.__setattr__(self, "retry_on", _exception_classes("retry_on", self.retry_on))
        object.__setattr__(self, "no_retry_on", _exception_classes("no_retry_on", self.no_retry_on))

    @classmethod
    def build(
        cls,
        delay: float | None = None,
        backoff: float = 1.0,
        jitter: bool = False,
        max_delay: float | None = None,
        retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
        no_retry_on: Iterable[type[BaseException]] | type[BaseException] = (),
    ) -> RetryPolicy:
        return cls(delay, backoff, jitter, max_delay, retry_on, no_retry_on)  # type: ignore[arg-type]

    def applies_to(self, exc: BaseException) -> bool:
        """Whether a run that raised ``exc`` may be retried (retries left aside)."""
        if isinstance(exc, Retry):
            return True
        if self.no_retry_on and isinstance(exc, self.no_retry_on):
            return False
        return self.retry_on is None or isinstance(exc, self.retry_on)

    def delay_after(self, attempt: int, default_delay: float, requested: float | None = None) -> float:
        """Seconds to wait before the run that follows failed run number ``attempt`` (1 = the first)."""
        if requested is not None:
            return float(requested)
        base = default_delay if self.delay is None else self.delay
        delay = base * self.backoff ** max(0, attempt - 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay *= random.uniform(0.5, 1.0)
        return delay


DEFAULT = RetryPolicy()
