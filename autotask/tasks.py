"""The public decorators (the import path autotask 0.5 had) and what they make.

A ``@delayed_task`` call travels: ``DelayedFunction.__call__`` validates and
stores the call (``queue.enqueue``), the commit wakes a worker, the worker
claims, runs and records it (``execution/``), and ``DelayedTask`` (``handle.py``)
reads the row. With ``AUTOTASK_EAGER`` the call is claimed, run and recorded
before it returns (``eager.py``).
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable, Generic, Iterable, ParamSpec, TypeVar

from . import names, queue, schedule_options, serialization, signals
from .conf import is_eager, stores_calls
from .handle import DelayedTask, current_task
from .loader import dotted_path
from .options import DEFAULTS, TaskOptions, check_non_negative
from .retry import RetryPolicy
from .schedules import register_cron, register_periodic

__all__ = ["Call", "DelayedFunction", "DelayedTask", "cron_task", "current_task", "delayed_task", "periodic_task"]

P = ParamSpec("P")
R = TypeVar("R")


class Call:
    """The arguments of one call, for ``bulk()``: ``Call(1, 2, key=3)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class DelayedFunction(Generic[P, R]):
    """What ``@delayed_task`` makes of a function: calling it stores the call.

    It is also what a worker runs for the stored call (its ``Runnable``, see
    ``definitions.py``): ``run()`` calls the function, ``retry_policy`` decides
    about retries.
    """

    backend = ""  # stored with each call: no django.tasks backend (see ``queue.Storable``)

    def __init__(
        self, func: Callable[P, R], *, options: TaskOptions = DEFAULTS, name: str = "",
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._wrap(func)
        self.func = func
        self.path = dotted_path(func)
        self.options = options
        self.name = name
        self.retry_policy = retry_policy or RetryPolicy()
        self._set_signature(inspect.signature(func))

    def _wrap(self, func: Callable[P, R]) -> None:
        functools.update_wrapper(self, func)

    def _set_signature(self, signature: inspect.Signature) -> None:
        """The signature calls are checked against (at call time, not in the worker)."""
        self._signature = signature
        params = list(self._signature.parameters.values())
        self._param_names = [p.name for p in params]
        # Positional calls of a function with plain parameters are checked by count
        # (what bind() would find, at a fraction of its cost: bulk() checks thousands).
        plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        required = sum(1 for p in params if p.default is p.empty)
        self._positional_counts = range(required, len(params) + 1) if plain else range(0)

    def __repr__(self) -> str:
        return f"<delayed_task {self.name or self.path}>"

    # The options of the calls made through it (``queue.enqueue`` reads them).
    @property
    def delay(self) -> float:
        return self.options.delay

    @property
    def retries(self) -> int:
        return self.options.retries

    @property
    def ttl(self) -> int:
        return self.options.ttl

    @property
    def timeout(self) -> float | None:
        return self.options.timeout

    def using(
        self, *, delay: float | None = None, run_after: Any = None, priority: int | None = None,
        queue_name: str | None = None, after: Iterable[Any] | None = None, retries: int | None = None,
        ttl: int | None = None, timeout: float | None = None,
    ) -> DelayedFunction[P, R]:
        """The same task with other options for the calls made through what this returns:
        ``send_mail.using(queue_name="mail", priority=10)(to, text)``. Options not given
        stay as they are; ``delay`` and ``run_after`` (an aware datetime) replace each other."""
        options = self.options.replace(
            delay=delay, run_after=run_after, priority=priority, queue_name=queue_name,
            after=after, retries=retries, ttl=ttl, timeout=timeout,
        )
        configured = copy.copy(self)
        configured.options = options
        return configured

    def _arg_name(self, index: int) -> str:
        return self._param_names[index] if index < len(self._param_names) else f"#{index}"

    def _store_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if kwargs or len(args) not in self._positional_counts:
            self._signature.bind(*args, **kwargs)  # a wrong call fails here, not in the worker
        return serialization.dumps_call(args, kwargs, self._arg_name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> DelayedTask:
        arguments = self._store_arguments(args, kwargs)
        handle = DelayedTask(queue.enqueue(self, arguments))
        announce_stored(self, [handle])
        return handle

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
        handles = [DelayedTask(task_id) for task_id in queue.enqueue_many(self, stored)]
        announce_stored(self, handles)
        return handles

    def run_inline(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function here and now, as if it were not decorated."""
        return self.func(*args, **kwargs)

    # -- what a worker runs ----------------------------------------------------------

    @property
    def autotask_runnable(self) -> DelayedFunction[P, R]:
        return self

    @property
    def sender(self) -> DelayedFunction[P, R]:
        return self

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.func(*args, **kwargs)


def announce_stored(sender: Any, handles: list[DelayedTask]) -> None:
    """What follows every way in once its calls are stored: ``task_enqueued`` for each,
    and with ``AUTOTASK_EAGER`` their runs, here and now (``eager.py``)."""
    if signals.task_enqueued.receivers:
        for handle in handles:
            signals.send_safely(signals.task_enqueued, sender, handle)
    if is_eager():
        from . import eager  # imported only where it is used

        eager.run([handle.id for handle in handles])


def delayed_task(
    delay: float = 0,
    retries: int = 0,
    ttl: int = 300,
    *,
    timeout: float | None = None,
    name: str | None = None,
    priority: int = 0,
    queue_name: str = "default",
    retry_delay: float | None = None,
    retry_backoff: float = 1.0,
    retry_jitter: bool = False,
    retry_max_delay: float | None = None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
    no_retry_on: Iterable[type[BaseException]] | type[BaseException] = (),
    after: Iterable[str] = (),
) -> Callable[[Callable[P, R]], DelayedFunction[P, R] | Callable[P, R]]:
    """Calls of the decorated function are stored and run later by a worker.

    On a method of a Django model, ``obj.method(*args)`` stores the call for that
    object (``autotask.instances``); ``after``: names of other such methods that
    must have ended DONE for the object first (djangotasks' rule).

    ``delay``: seconds to wait at least; ``retries``: runs allowed after a failure;
    ``ttl``: seconds the result is kept; ``timeout``: seconds after which a run is
    stopped and counts as failed; ``name``: a name unique in the project, for
    ``autotask.enqueue(name, ...)``; ``priority`` (-100 to 100, higher first) and
    ``queue_name``: which due task a worker takes first, and which workers take it.
    The ``retry_*`` arguments make the retry policy (``autotask.retry.RetryPolicy``):
    the first retry waits ``retry_delay`` seconds (default ``AUTOTASK_RETRY_DELAY``),
    each next one ``retry_backoff`` times longer, at most ``retry_max_delay``,
    spread at random with ``retry_jitter``; ``retry_on`` / ``no_retry_on`` limit
    which exceptions are retried.

    On a subclass of ``autotask.TaskBase``, calling the class stores a call of its
    ``run()``; the worker runs it on a new instance (``task_classes.py``).
    """
    if callable(delay):
        raise TypeError("use @delayed_task() with parentheses")
    check_non_negative(delay=delay)
    options = TaskOptions(
        delay=delay, retries=retries, ttl=ttl, timeout=timeout, priority=priority, queue_name=queue_name
    )
    policy = RetryPolicy.build(retry_delay, retry_backoff, retry_jitter, retry_max_delay, retry_on, no_retry_on)
    if name is not None:
        names.check_name(name)

    if isinstance(after, str) or not all(isinstance(method, str) for method in after):
        raise TypeError(f"@delayed_task(after=...) takes a list of method names, got {after!r}")
    after = tuple(after)

    def decorate(func: Callable[P, R]) -> DelayedFunction[P, R] | Callable[P, R]:
        task: DelayedFunction[P, R]
        qualname = getattr(func, "__qualname__", "")
        if isinstance(func, type):  # a class-based task (task_classes.py)
            from .task_classes import DelayedClass, check_task_class

            check_task_class(func)
            if not stores_calls():
                return func
            task = DelayedClass(func, options=options, name=name or "", retry_policy=policy)
        elif not stores_calls():
            return func
        elif "." in qualname and "<locals>" not in qualname:  # defined in a class body: a model method
            from .instances import ModelMethod

            task = ModelMethod(func, options=options, name=name or "", retry_policy=policy, after=after)
        elif after:
            raise ValueError(
                f"@delayed_task(after={list(after)!r}) on {qualname}: after= names methods of the same model, "
                "so it is only for model methods (use func.using(after=[handle, ...]) for other tasks)"
            )
        else:
            task = DelayedFunction(func, options=options, name=name or "", retry_policy=policy)
        if name is not None:
            names.register(name, task)
        return task

    return decorate


def periodic_task(
    seconds: float = 3600,
    start_now: bool = False,
    *,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    timeout: float | None = None,
    retries: int = 0,
    ttl: int | None = None,
    queue_name: str = "default",
    priority: int = 0,
    retry_delay: float | None = None,
    retry_backoff: float = 1.0,
    retry_jitter: bool = False,
    retry_max_delay: float | None = None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
    no_retry_on: Iterable[type[BaseException]] | type[BaseException] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function every ``seconds`` (fixed rate); importing its module registers it.

    Each run is a task stored with ``args``/``kwargs`` (fixed arguments),
    ``timeout``, ``retries`` and the ``retry_*`` policy as ``@delayed_task``'s,
    ``ttl`` (default ``AUTOTASK_SCHEDULE_RUN_TTL``), ``queue_name`` and ``priority``.
    """
    if callable(seconds):
        raise TypeError("use @periodic_task() with parentheses")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"seconds must be a number greater than 0, got {seconds!r}")
    run, policy, run_args, run_kwargs = schedule_options.build(
        timeout=timeout, retries=retries, ttl=ttl, queue_name=queue_name, priority=priority, args=args, kwargs=kwargs,
        retry_delay=retry_delay, retry_backoff=retry_backoff, retry_jitter=retry_jitter,
        retry_max_delay=retry_max_delay, retry_on=retry_on, no_retry_on=no_retry_on,
    )

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if stores_calls():
            schedule_options.check_call(func, run_args, run_kwargs)
            register_periodic(dotted_path(func), seconds=seconds, start_now=start_now, run=run, retry_policy=policy)
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
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    timeout: float | None = None,
    retries: int = 0,
    ttl: int | None = None,
    queue_name: str = "default",
    priority: int = 0,
    retry_delay: float | None = None,
    retry_backoff: float = 1.0,
    retry_jitter: bool = False,
    retry_max_delay: float | None = None,
    retry_on: Iterable[type[BaseException]] | type[BaseException] | None = None,
    no_retry_on: Iterable[type[BaseException]] | type[BaseException] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function on a calendar; importing its module registers it.

    ``crontab`` is in autotask 0.5's order, ``minutes hours dow months dom`` (Monday = 0);
    ``cron`` a standard cron expression. Times are in ``timezone`` or ``TIME_ZONE``.
    The runs' options are ``@periodic_task``'s.
    """
    if callable(minutes):
        raise TypeError("use @cron_task(...) with parentheses")
    from .cron import CronSchedule

    schedule = CronSchedule(
        minutes=minutes, hours=hours, dow=dow, months=months, dom=dom, crontab=crontab, cron=cron, timezone=timezone
    )
    run, policy, run_args, run_kwargs = schedule_options.build(
        timeout=timeout, retries=retries, ttl=ttl, queue_name=queue_name, priority=priority, args=args, kwargs=kwargs,
        retry_delay=retry_delay, retry_backoff=retry_backoff, retry_jitter=retry_jitter,
        retry_max_delay=retry_max_delay, retry_on=retry_on, no_retry_on=no_retry_on,
    )

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if stores_calls():
            schedule_options.check_call(func, run_args, run_kwargs)
            register_cron(dotted_path(func), schedule, run=run, retry_policy=policy)
        return func

    return decorate
