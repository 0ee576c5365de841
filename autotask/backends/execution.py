"""How autotask's workers run django.tasks tasks, and Django's signals about them.

The worker imports a row's dotted path (the task's ``module_path``) and finds
Django's ``Task`` there; the adapter registered here makes its runnable. The
worker's own signals (``autotask.signals``) are sent for every task in the
process where it happens; the receivers here send Django's ``task_started``
and ``task_finished`` for django.tasks tasks from there, with the backend's
class as the sender. A receiver that raises is logged and changes nothing.

In the worker, the ``TaskResult`` of those signals is made from what the
worker holds (its claimed row, the run's outcome), without a query: a query
per signal would cost more than the run of a quick task. A signal that nobody
would hear (``heard``) is not sent, and its ``TaskResult`` is not made.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import Signal, receiver
from django.utils.log import RequireDebugFalse, RequireDebugTrue

from .. import definitions, queue, serialization
from ..execution.capture import OutputHandler
from ..handle import current_task
from ..retry import DEFAULT
from ..task import CANCELLED, DONE, ERROR, RUNNING
from . import results
from .compat import LOG_RECEIVERS, Task, TaskContext, TaskResult, task_backends, task_finished, task_started, tasks_logger

logger = logging.getLogger(__name__)


class DjangoTask:
    """What a worker runs for a row stored through ``AutotaskBackend`` (a ``definitions.Runnable``)."""

    __slots__ = ("path", "task", "call")
    retry_policy = DEFAULT  # the number of retries comes with each row (the backend's OPTIONS)

    def __init__(self, path: str, task: Task) -> None:
        self.path = path
        self.task = task
        # Task.call runs an async def function to completion (asgiref's async_to_sync); it
        # asks which one it has on every call (2 us, 40 times the call of a no-op): once here.
        plain = type(task).call is Task.call and not iscoroutinefunction(task.func)
        self.call = task.func if plain else task.call

    @property
    def sender(self) -> Task:
        return self.task

    # Django's signals for its tasks, from the worker's hooks (``autotask.signals.started``
    # and ``finished``): only django.tasks runs pay for them.
    def on_started(self, handle: Any, row: dict[str, Any]) -> None:
        send = heard(task_started, logging.INFO)
        if send or self.task.takes_context:  # its TaskContext carries the started result (``run``)
            _forward(task_started, self.task, handle, RUNNING, row, None, send)

    def on_finished(self, handle: Any, status: str, row: dict[str, Any] | None, outcome: Any) -> None:
        if heard(task_finished, logging.ERROR if status in (ERROR, CANCELLED) else logging.INFO):
            _forward(task_finished, self.task, handle, status, row, outcome)
        elif row is not None:
            _started.pop(row["id"], None)

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        task = self.task
        if task.takes_context:
            handle = current_task()
            assert handle is not None, "a task runs with its handle set"
            # What its task_started said, in the worker (a runner process reads it).
            result = _started.get(handle.id) or results.read(handle.id, task.backend)
            args = [TaskContext(task_result=result), *args]
        return results.plain_json(self.call(*args, **kwargs))


def adapter(path: str, obj: Any) -> DjangoTask | None:
    return DjangoTask(path, obj) if isinstance(obj, Task) else None


def heard(signal: Signal, level: int) -> bool:
    """Whether sending ``signal`` could do anything: it has a receiver other than Django's
    own (``compat.LOG_RECEIVERS``), or a record that Django's own logs at ``level`` (the
    level of this send) could be written (``emitted``).

    Django's receiver only logs: at Django's default ``LOGGING`` with ``DEBUG = False``,
    or with its logger at WARNING, and no receiver of the project's, the two sends of a
    run with their ``TaskResult`` and records cost a worker about 27 us a task for nothing
    (a plain no-op task costs it 50-90 us)."""
    receivers = signal.receivers
    if not receivers:
        return False
    if len(receivers) > 1:
        return True
    try:  # Django keeps each receiver under (id(receiver), id(sender)) first
        own = receivers[0][0][0] == id(LOG_RECEIVERS[signal])
    except (IndexError, KeyError, TypeError):  # another layout: send, as Django would
        return True
    return not own or emitted(tasks_logger, level)


_debug: bool | None = None  # settings.DEBUG, read once (and again when it changes)


def emitted(log: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` from ``log`` could be written: the walk of
    ``Logger.callHandlers`` up the loggers, without making the record. Of filters only
    Django's ``RequireDebugTrue`` and ``RequireDebugFalse`` are evaluated (they read only
    ``settings.DEBUG``); any other filter might pass it. Django's default ``LOGGING``
    writes its ``INFO`` records only with ``DEBUG = True`` (to the console), and a
    run's output never takes the records of Django's tasks framework (``capture.py``).
    About 1.5 us: it runs twice a task."""
    if log.disabled or not log.isEnabledFor(level) or (log.filters and not _may_pass(log.filters)):
        return False
    found = False
    current: logging.Logger | None = log
    while current is not None:
        for handler in current.handlers:
            found = True
            if level >= handler.level and (not handler.filters or _may_pass(handler.filters)):
                if type(handler) is not OutputHandler or handler.takes(log.name):
                    return True
        current = current.parent if current.propagate else None  # type: ignore[assignment]
    last = logging.lastResort  # what logging writes to when no logger on the way has a handler
    return not found and last is not None and level >= last.level


def _may_pass(filters: list[Any]) -> bool:
    global _debug
    if _debug is None:
        _debug = bool(settings.DEBUG)  # settings' attributes cost half a microsecond each
    for item in filters:
        kind = type(item)
        if (kind is RequireDebugTrue and not _debug) or (kind is RequireDebugFalse and _debug):
            return False
    return True


def send_robustly(signal: Signal, result: TaskResult) -> None:
    """Send one of Django's task signals; log what a receiver raises instead of raising it."""
    for receiver, response in signal.send_robust(_sender(result.backend), task_result=result):
        if isinstance(response, Exception):
            logger.error(
                "django.tasks signal receiver failed receiver=%r task=%s error=%r",
                receiver, result.id, response, exc_info=response,
            )


# The backends' classes by alias, kept: a worker sends two signals per task, and
# ``task_backends[alias]`` goes through Django's connection handler each time.
_senders: dict[str, type] = {}


def _sender(alias: str) -> type:
    sender = _senders.get(alias)
    if sender is None:
        sender = _senders[alias] = type(task_backends[alias])
    return sender


@receiver(setting_changed)
def _forget_settings(setting: str, **kwargs: Any) -> None:
    global _debug
    if setting == "TASKS":
        _senders.clear()
    elif setting == "DEBUG":
        _debug = None


def _worker_label() -> str:
    return f"{queue.HOST}:{os.getpid()}"  # what the claim wrote into the row's worker column


# The result each task_started said in this worker, which its task_finished changes.
_started: dict[uuid.UUID, TaskResult] = {}
KEPT = 10_000  # entries of runs that never finished here (retried, handed back) are dropped past this


def _started_result(task: Task, row: dict[str, Any]) -> TaskResult | None:
    """The RUNNING result of a first attempt, from the worker's row; None after a retry
    (the earlier attempts are in the table's history)."""
    if row["attempts"] != 1:
        _started.pop(row["id"], None)  # an earlier attempt's, which ended in a retry
        return None
    alias = row["backend"] if row["backend"] in task_backends.settings else task.backend
    result = results.build(row, RUNNING, alias, row["created_at"], [], [_worker_label()], row["started_at"])
    if len(_started) > KEPT:
        _started.clear()
    _started[row["id"]] = result
    return result


def _finished_result(row: dict[str, Any], status: str, outcome: Any) -> TaskResult | None:
    """The started result with the run's outcome."""
    started = _started.pop(row["id"], None)
    if started is None or row["attempts"] != 1:
        return None
    errors = [results.error(outcome.exception_class, outcome.traceback)] if outcome.exception_class else []
    stored = outcome.result if status == DONE else None
    value = serialization.loads(stored) if stored is not None and stored != "null" else None  # "null": None
    return results.evolve(
        started, status=results.STATUSES[status], finished_at=row["finished_at"], errors=errors, _return_value=value
    )


def _forward(signal: Signal, sender: Any, task: Any, status: str, row: Any, outcome: Any, send: bool = True) -> None:
    """Send ``signal`` about ``task`` with its ``TaskResult`` (or only make it, if not ``send``)."""
    if not isinstance(sender, Task):
        return
    try:
        result = None
        if row is not None:
            result = _started_result(sender, row) if status == RUNNING else _finished_result(row, status, outcome)
        if result is None:
            result = results.read(task.id, sender.backend)
    except Exception as exc:  # its record is gone already (an expired ttl), or its task can't be imported here
        logger.warning("no django.tasks signal for task=%s: %s", task.id, exc)
        return
    if send:
        send_robustly(signal, result)


definitions.register_adapter(adapter)
