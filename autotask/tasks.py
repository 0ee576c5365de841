"""The public decorators and the ``DelayedTask`` handle (autotask 0.5's import path).

A ``@delayed_task`` call travels: ``DelayedFunction.__call__`` validates and
stores the call (``queue.enqueue``), the commit wakes a worker, the worker
claims, runs and records it (``worker.py``), and ``DelayedTask`` reads the row.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import inspect
import time
import uuid
from typing import Any, Callable, Generic, Iterable, ParamSpec, TypeVar

from . import queue, serialization
from .conf import conf
from .exceptions import TaskError
from .schedules import register_cron, register_periodic
from .task import CANCELLED, DONE, ERROR, FINISHED

P = ParamSpec("P")
R = TypeVar("R")

_current_task: contextvars.ContextVar[DelayedTask | None] = contextvars.ContextVar("autotask_current_task", default=None)


def dotted_path(func: Callable[..., Any]) -> str:
    """The path a worker imports ``func`` by; refuse functions it could not import."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(f"{func!r} can't be a task: a worker must be able to import it, so define it at module level")
    if module == "__main__":
        raise ValueError(f"{qualname} can't be a task: it is defined in __main__, which a worker can't import")
    return f"{module}.{qualname}"


def _check_non_negative(**values: Any) -> None:
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value!r}")


class DelayedTask:
    """A handle to a stored call: every attribute reads the current state of its row.

    ``DelayedTask(id)`` rebuilds a handle from a stored id in any process.
    """

    __slots__ = ("id",)  # bulk() makes thousands at once

    def __init__(self, id: uuid.UUID | str) -> None:
        self.id = id if isinstance(id, uuid.UUID) else uuid.UUID(str(id))

    def __repr__(self) -> str:
        return f"<DelayedTask {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DelayedTask) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _get(self, *fields: str) -> dict[str, Any] | None:
        return queue.read(self.id, fields)

    def _field(self, name: str) -> Any:
        row = self._get(name)
        return None if row is None else row[name]

    @property
    def status(self) -> str | None:
        """WAITING, RUNNING, DONE, ERROR or CANCELLED; None once the record is gone."""
        return self._field("status")

    @property
    def ready(self) -> bool | None:
        """True once finished (done, error or cancelled); None once the record is gone."""
        status = self.status
        return None if status is None else status in FINISHED

    @property
    def result(self) -> Any:
        """The function's return value once done; None before."""
        row = self._get("status", "result")
        if row is None or row["result"] is None:
            return None
        return serialization.loads(row["result"])

    @property
    def error_message(self) -> str:
        return self._field("error_message") or ""

    @property
    def traceback(self) -> str:
        return self._field("traceback") or ""

    @property
    def progress(self) -> int | None:
        return self._field("progress")

    @property
    def attempts(self) -> int | None:
        return self._field("attempts")

    @property
    def started_at(self) -> dt.datetime | None:
        return self._field("started_at")

    @property
    def finished_at(self) -> dt.datetime | None:
        return self._field("finished_at")

    @property
    def worker(self) -> str:
        """``host:pid`` of the worker that ran it last."""
        return self._field("worker") or ""

    def wait(self, timeout: float | None = None) -> Any:
        """Block until finished and return the result.

        Raises ``TaskError`` if it ended in ERROR or CANCELLED, ``TimeoutError``
        after ``timeout`` seconds, ``LookupError`` if its record is gone.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            row = self._get("status", "result", "error_message", "exception_class", "traceback")
            if row is None:
                raise LookupError(f"task {self.id} does not exist (its record may have expired)")
            if row["status"] in (ERROR, CANCELLED):
                raise TaskError(row["exception_class"], row["error_message"], row["traceback"])
            if row["status"] == DONE:
                return None if row["result"] is None else serialization.loads(row["result"])
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {self.id} did not finish within {timeout} s (status {row['status']})")
            sleep = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(sleep)
            pause = min(pause * 1.5, 0.1)

    def cancel(self) -> bool:
        """Stop the task: a waiting one never runs, a running one is stopped; it ends CANCELLED.

        Returns False (and changes nothing) if it had already finished.
        """
        return queue.cancel(self.id)

    def set_progress(self, percent: int | float) -> None:
        """Record progress (0-100); any handle to the task reads it at once."""
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
            raise ValueError(f"progress must be a number from 0 to 100, got {percent!r}")
        queue.set_progress(self.id, int(percent))


class Call:
    """The arguments of one call, for ``bulk()``: ``Call(1, 2, key=3)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class DelayedFunction(Generic[P, R]):
    """What ``@delayed_task`` makes of a function: calling it stores the call."""

    def __init__(self, func: Callable[P, R], *, delay: float, retries: int, ttl: int, timeout: float | None) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.path = dotted_path(func)
        self.delay = delay
        self.retries = retries
        self.ttl = ttl
        self.timeout = timeout
        self._signature = inspect.signature(func)
        params = list(self._signature.parameters.values())
        self._param_names = [p.name for p in params]
        # Positional calls of a function with plain parameters are checked by count
        # (what bind() would find, at a fraction of its cost: bulk() checks thousands).
        plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        required = sum(1 for p in params if p.default is p.empty)
        self._positional_counts = range(required, len(params) + 1) if plain else range(0)

    def __repr__(self) -> str:
        return f"<delayed_task {self.path}>"

    def _arg_name(self, index: int) -> str:
        return self._param_names[index] if index < len(self._param_names) else f"#{index}"

    def _store_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if kwargs or len(args) not in self._positional_counts:
            self._signature.bind(*args, **kwargs)  # a wrong call fails here, not in the worker
        return serialization.dumps_call(args, kwargs, self._arg_name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> DelayedTask:
        arguments = self._store_arguments(args, kwargs)
        return DelayedTask(queue.enqueue(self, arguments))

    def bulk(self, calls: Iterable[Call | tuple[Any, ...] | list[Any]]) -> list[DelayedTask]:
        """Store many calls at once, far faster than one by one.

        Each item is a ``Call(*args, **kwargs)`` or a tuple of positional arguments.
        """
        stored = []
        for call in calls:
            if isinstance(call, Call):
                stored.append(self._store_arguments(call.args, call.kwargs))
            elif isinstance(call, (tuple, list)):
                stored.append(self._store_arguments(tuple(call), {}))
            else:
                raise TypeError(f"bulk() takes Call(...) objects or tuples of arguments, got {call!r}")
        return [DelayedTask(task_id) for task_id in queue.enqueue_many(self, stored)]

    def run_inline(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function here and now, as if it were not decorated."""
        return self.func(*args, **kwargs)


def delayed_task(
    delay: float = 0, retries: int = 0, ttl: int = 300, *, timeout: float | None = None
) -> Callable[[Callable[P, R]], DelayedFunction[P, R] | Callable[P, R]]:
    """Calls of the decorated function are stored and run later by a worker.

    ``delay``: seconds to wait at least; ``retries``: runs allowed after a failure,
    ``AUTOTASK_RETRY_DELAY`` seconds apart; ``ttl``: seconds the result is kept;
    ``timeout``: seconds after which a run is stopped and counts as failed.
    """
    if callable(delay):
        raise TypeError("use @delayed_task() with parentheses")
    _check_non_negative(delay=delay, retries=retries, ttl=ttl, timeout=timeout)
    if not isinstance(retries, int) or not isinstance(ttl, int):
        raise TypeError(f"retries and ttl must be whole numbers, got retries={retries!r} ttl={ttl!r}")
    if timeout == 0:
        raise ValueError("timeout must be more than 0 seconds (or None for no timeout)")

    def decorate(func: Callable[P, R]) -> DelayedFunction[P, R] | Callable[P, R]:
        if not conf.IS_ACTIVE:
            return func
        return DelayedFunction(func, delay=delay, retries=retries, ttl=ttl, timeout=timeout)

    return decorate


def periodic_task(seconds: float = 3600, start_now: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function every ``seconds`` (fixed rate); importing its module registers it."""
    if callable(seconds):
        raise TypeError("use @periodic_task() with parentheses")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"seconds must be a number greater than 0, got {seconds!r}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if conf.IS_ACTIVE:
            register_periodic(dotted_path(func), seconds=seconds, start_now=start_now)
        return func

    return decorate


def cron_task(
    minutes: Iterable[int] | None = None,
    hours: Iterable[int] | None = None,
    dow: Iterable[int] | None = None,
    months: Iterable[int] | None = None,
    dom: Iterable[int] | None = None,
    crontab: str | None = None,
    *,
    cron: str | None = None,
    timezone: Any = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function on a calendar; importing its module registers it.

    ``crontab`` is in autotask 0.5's order, ``minutes hours dow months dom`` (Monday = 0);
    ``cron`` a standard cron expression. Times are in ``timezone`` or ``TIME_ZONE``.
    """
    if callable(minutes):
        raise TypeError("use @cron_task(...) with parentheses")
    from .cron import CronSchedule

    schedule = CronSchedule(
        minutes=minutes, hours=hours, dow=dow, months=months, dom=dom, crontab=crontab, cron=cron, timezone=timezone
    )

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if conf.IS_ACTIVE:
            register_cron(dotted_path(func), schedule)
        return func

    return decorate


def current_task() -> DelayedTask | None:
    """The handle of the task running in this process; None outside a task."""
    return _current_task.get()
