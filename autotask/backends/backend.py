"""``AutotaskBackend``: Django's tasks framework stores its tasks in autotask's table.

A ``@task`` function enqueued through it is stored by the same insert as a
``@delayed_task`` call (on the caller's connection: transactional; workers
woken at commit) with its ``module_path`` as the dotted path, its priority,
queue and run_after, the backend's ``OPTIONS`` (retries, ttl, timeout) and
the TASKS alias it came through. Workers claim and run it like any task;
with ``AUTOTASK_EAGER`` it runs before ``enqueue`` returns (``autotask.eager``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .. import queue, serialization, signals, timeutil
from ..conf import conf, is_eager
from ..handle import DelayedTask
from ..options import TaskOptions, check_queue_name
from . import results
from .compat import BaseTaskBackend, InvalidTask, Task, TaskResult, TaskResultStatus, task_enqueued
from .execution import heard, send_robustly

OPTION_NAMES = ("retries", "ttl", "timeout")
MAX_ALIAS = 100  # the task row's ``backend`` column


@dataclass(frozen=True, slots=True)
class StoredAs:
    """What ``queue.enqueue`` stores a call of a django.tasks task with (a ``queue.Storable``)."""

    path: str
    options: TaskOptions
    backend: str
    name: str = ""  # the name column is for ``@delayed_task(name=...)``


class AutotaskBackend(BaseTaskBackend):
    """``TASKS = {"default": {"BACKEND": "autotask.backends.AutotaskBackend"}}``.

    ``OPTIONS`` may give ``retries`` (runs after a failure, default 0), ``ttl``
    (seconds a finished result is kept, default 300) and ``timeout`` (seconds a
    run may take, default None) for every task of this backend.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        where = f"TASKS[{alias!r}]"
        if len(alias) > MAX_ALIAS:
            raise ImproperlyConfigured(f"{where}: autotask stores an alias of at most {MAX_ALIAS} characters")
        unknown = sorted(set(self.options) - set(OPTION_NAMES))
        if unknown:
            raise ImproperlyConfigured(
                f"{where}['OPTIONS'] has unknown option(s) {', '.join(map(repr, unknown))}: "
                f"autotask's backend takes {', '.join(OPTION_NAMES)}"
            )
        try:
            self.defaults = TaskOptions(**{name: self.options[name] for name in OPTION_NAMES if name in self.options})
            for queue_name in self.queues:
                check_queue_name(queue_name)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from None
        self._stored: dict[Task, StoredAs] = {}  # per task without run_after: built and checked once

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        try:
            check_queue_name(task.queue_name)
        except ValueError as exc:
            raise InvalidTask(str(exc)) from None

    def _stored_as(self, task: Task) -> StoredAs:
        stored = self._stored.get(task)
        if stored is None:
            self.validate_task(task)
            try:
                results.find_task(task.module_path)  # a worker must find the task there
            except ImportError as exc:
                raise InvalidTask(str(exc)) from None
            options = self.defaults.replace(
                run_after=task.run_after, priority=task.priority, queue_name=task.queue_name
            )
            stored = StoredAs(task.module_path, options, self.alias)
            if task.run_after is None:
                if len(self._stored) > 1000:
                    self._stored.clear()
                self._stored[task] = stored
        return stored

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Store a call of ``task``; its ``TaskResult`` id is the autotask task id."""
        stored = self._stored_as(task)
        args, kwargs = results.plain_json(list(args)), results.plain_json(kwargs)
        arguments = serialization.dumps_call(args, kwargs, lambda index: f"#{index}")
        now = timeutil.now()
        task_id = queue.enqueue(stored, arguments, now)
        result = results.made(
            TaskResult,
            task=task,
            id=str(task_id),
            status=TaskResultStatus.READY,
            enqueued_at=now,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        if signals.task_enqueued.receivers:
            signals.send_safely(signals.task_enqueued, task, DelayedTask(task_id))
        if heard(task_enqueued, logging.DEBUG):
            send_robustly(task_enqueued, result)
        if is_eager():  # run here and now (autotask.eager): the result of the finished task
            from .. import eager

            eager.run([task_id])
            result = results.read(task_id, self.alias)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The task's current state; ``TaskResultDoesNotExist`` for an unknown or malformed id."""
        return results.read(result_id, self.alias)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        if not apps.is_installed("autotask"):
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}] uses autotask's backend, but autotask is not installed",
                    hint="Add 'autotask' to INSTALLED_APPS and run 'python manage.py migrate'.",
                    id="autotask.E101",
                )
            )
        elif not conf.IS_ACTIVE and not conf.EAGER:  # an INFO, as autotask.I001: inactive may be what is wanted (tests)
            messages.append(
                checks.Info(
                    f"TASKS[{self.alias!r}] uses autotask's backend, but AUTOTASK_IS_ACTIVE is False: "
                    "its tasks are stored, and no companion worker starts to run them",
                    hint="Set AUTOTASK_IS_ACTIVE = True, or run workers with 'python manage.py run_autotask'.",
                    id="autotask.I101",
                )
            )
        return messages
