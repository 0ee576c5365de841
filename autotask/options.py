"""The options a call is stored with, validated when they are set.

``@delayed_task(...)`` sets a function's options, ``func.using(...)`` changes
them for the calls made through what it returns. Each check names the bad
value and says what would be right, at decoration or at ``using()``, never
later in a worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import timeutil

DEFAULT_QUEUE = "default"
PRIORITY_RANGE = range(-100, 101)
MAX_QUEUE_NAME = 100


def check_non_negative(**values: Any) -> None:
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value!r}")


def check_whole(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number, got {value!r}")


def check_priority(priority: Any) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be a whole number from -100 to 100, got {priority!r}")
    if priority not in PRIORITY_RANGE:
        raise ValueError(f"priority must be from -100 to 100, got {priority!r}")


def check_queue_name(queue_name: Any) -> None:
    if not isinstance(queue_name, str) or not queue_name.strip():
        raise ValueError(f"queue_name must be a non-empty string, got {queue_name!r}")
    if len(queue_name) > MAX_QUEUE_NAME or queue_name != queue_name.strip() or "," in queue_name:
        raise ValueError(
            f"queue_name must be at most {MAX_QUEUE_NAME} characters, without commas or surrounding spaces, got {queue_name!r}"
        )


def dependency_id(item: Any) -> uuid.UUID:
    """The id of what ``after=`` names: a handle, a Django ``TaskResult``, a UUID or its string."""
    if isinstance(item, uuid.UUID):
        return item
    candidate = item if isinstance(item, str) else getattr(item, "id", None)
    if isinstance(candidate, uuid.UUID):
        return candidate
    if isinstance(candidate, str):
        try:
            return uuid.UUID(candidate)
        except ValueError:
            pass
    raise TypeError(f"after= takes task handles or task ids, got {item!r}")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """What a call is stored with (a function's defaults, or one ``using()``'s)."""

    delay: float = 0
    run_after: dt.datetime | None = None
    retries: int = 0
    ttl: int = 300
    timeout: float | None = None
    priority: int = 0
    queue_name: str = DEFAULT_QUEUE
    after: tuple[uuid.UUID, ...] = ()  # ids of the tasks this one waits for (handles or ids given)

    def __post_init__(self) -> None:
        check_non_negative(delay=self.delay, retries=self.retries, ttl=self.ttl, timeout=self.timeout)
        check_whole(retries=self.retries, ttl=self.ttl)
        if self.timeout == 0:
            raise ValueError("timeout must be more than 0 seconds (or None for no timeout)")
        check_priority(self.priority)
        check_queue_name(self.queue_name)
        if self.run_after is not None:
            if not isinstance(self.run_after, dt.datetime):
                raise TypeError(f"run_after must be a datetime, got {self.run_after!r}")
            if settings.USE_TZ and timezone.is_naive(self.run_after):
                raise ValueError(f"run_after must be an aware datetime (USE_TZ is True), got {self.run_after!r}")
            if self.delay:
                raise ValueError("give either delay or run_after, not both")
        if self.after:
            if isinstance(self.after, (str, uuid.UUID)) or hasattr(self.after, "id"):
                raise TypeError(f"after= takes a list of task handles or ids, got {self.after!r}")
            object.__setattr__(self, "after", tuple(dependency_id(item) for item in self.after))
        elif not isinstance(self.after, tuple):
            object.__setattr__(self, "after", ())

    def replace(self, **changes: Any) -> TaskOptions:
        """These options with ``changes`` (None values leave an option as it is).

        ``delay`` and ``run_after`` replace each other: a call has one of them.
        """
        changes = {name: value for name, value in changes.items() if value is not None}
        if "delay" in changes and "run_after" in changes:
            raise ValueError("give either delay or run_after, not both")
        if "delay" in changes:
            changes["run_after"] = None
        elif "run_after" in changes:
            changes["delay"] = 0
        return dataclasses.replace(self, **changes) if changes else self

    def run_at(self, now: dt.datetime) -> dt.datetime:
        """When a call made at ``now`` may start."""
        if self.run_after is not None:
            return timeutil.to_db(self.run_after)
        return now + dt.timedelta(seconds=self.delay) if self.delay else now


DEFAULTS = TaskOptions()
