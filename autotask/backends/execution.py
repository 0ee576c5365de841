"""How autotask's workers run django.tasks tasks, and Django's signals about them.

The worker imports a row's dotted path (the task's ``module_path``) and finds
Django's ``Task`` there; the adapter registered here makes its runnable. The
worker's own signals (``autotask.signals``) are sent for every task in the
process where it happens; the receivers here send Django's ``task_started``
and ``task_finished`` for django.tasks tasks from there, with the backend's
class as the sender. A receiver that raises is logged and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from .. import definitions, signals
from ..handle import current_task
from ..retry import DEFAULT
from . import results
from .compat import Task, TaskContext, TaskResult, task_backends, task_finished, task_started

logger = logging.getLogger(__name__)


class DjangoTask:
    """What a worker runs for a row stored through ``AutotaskBackend`` (a ``definitions.Runnable``)."""

    __slots__ = ("path", "task")
    retry_policy = DEFAULT  # the number of retries comes with each row (the backend's OPTIONS)

    def __init__(self, path: str, task: Task) -> None:
        self.path = path
        self.task = task

    @property
    def sender(self) -> Task:
        return self.task

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        task = self.task
        if task.takes_context:
            handle = current_task()
            assert handle is not None, "a task runs with its handle set"
            args = [TaskContext(task_result=results.read(handle.id, task.backend)), *args]
        # Task.call runs an async def function to completion (asgiref's async_to_sync).
        return results.plain_json(task.call(*args, **kwargs))


def adapter(path: str, obj: Any) -> DjangoTask | None:
    return DjangoTask(path, obj) if isinstance(obj, Task) else None


def send_robustly(signal: Signal, result: TaskResult) -> None:
    """Send one of Django's task signals; log what a receiver raises instead of raising it."""
    sender = type(task_backends[result.backend])
    for receiver, response in signal.send_robust(sender, task_result=result):
        if isinstance(response, Exception):
            logger.error(
                "django.tasks signal receiver failed receiver=%r task=%s error=%r",
                receiver, result.id, response, exc_info=response,
            )


def _forward(signal: Signal, sender: Any, task: Any) -> None:
    if not isinstance(sender, Task):
        return
    try:
        result = results.read(task.id, sender.backend)
    except Exception as exc:  # its record is gone already (an expired ttl), or its task can't be imported here
        logger.warning("no django.tasks signal for task=%s: %s", task.id, exc)
        return
    send_robustly(signal, result)


def on_started(sender: Any, task: Any, **kwargs: Any) -> None:
    _forward(task_started, sender, task)


def on_finished(sender: Any, task: Any, **kwargs: Any) -> None:
    _forward(task_finished, sender, task)


definitions.register_adapter(adapter)
signals.task_started.connect(on_started, dispatch_uid="autotask.backends.started")
signals.task_finished.connect(on_finished, dispatch_uid="autotask.backends.finished")
