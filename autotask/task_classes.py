"""Class-based tasks (lilota-django's way): a subclass of ``TaskBase`` decorated with ``@delayed_task``.

Calling the decorated class stores a call of its ``run(...)`` and returns a
handle, as a decorated function does (``DelayedClass`` is a ``DelayedFunction``
whose worker side makes a new instance per run). Inside ``run``, the instance has
``task`` (the handle), ``logger``, ``set_progress()`` and ``set_output()``.
Function tasks pay nothing for any of this.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any

from . import queue, serialization
from .handle import check_progress, current_task
from .tasks import DelayedFunction

if TYPE_CHECKING:
    from .handle import DelayedTask

_NOTHING = object()


class TaskBase:
    """Subclass it, write ``run(self, ...)``, decorate the class with ``@delayed_task(...)``.

    A worker makes a new instance for every run (so ``__init__`` takes no arguments)
    and calls ``run`` with the stored arguments.
    """

    #: The handle of the run in progress; None outside a worker's run.
    task: DelayedTask | None = None
    _output: Any = _NOTHING

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} must define run()")

    @property
    def logger(self) -> logging.Logger:
        """The logger named after the class (``module.ClassName``); its records are in the run's output."""
        cls = type(self)
        return logging.getLogger(f"{cls.__module__}.{cls.__qualname__}")

    def set_progress(self, percent: int | float) -> None:
        """Record progress, 0-100: any handle to the task reads it at once. Outside a
        worker's run (``run_inline``) it is checked, and not recorded."""
        if self.task is None:
            check_progress(percent)
            return
        self.task.set_progress(percent)

    def set_output(self, value: Any) -> None:
        """Store ``value`` as the task's result now: ``handle.result`` reads it while the task
        still runs. A return value of ``run()`` other than None replaces it when the run ends.
        A value that can't be stored is a ``TypeError`` here (which fails the run)."""
        stored = serialization.dumps(value, "the output")
        self._output = value
        if self.task is not None:
            queue.set_result(self.task.id, stored)


def check_task_class(cls: type) -> None:
    """A class is a task only if it subclasses ``TaskBase``, has its own ``run`` and takes no
    arguments to be made; else a ``TypeError`` at decoration."""
    if not issubclass(cls, TaskBase):
        raise TypeError(
            f"@delayed_task on the class {cls.__qualname__}: a class-based task must subclass autotask.TaskBase "
            "and define run()"
        )
    if cls.run is TaskBase.run:
        raise TypeError(f"{cls.__qualname__} must define run(self, ...): it is what the worker calls")
    try:
        inspect.signature(cls).bind()
    except TypeError:
        raise TypeError(
            f"{cls.__qualname__}() must take no arguments: a worker makes a new instance for every run "
            "and passes the call's arguments to run()"
        ) from None


class DelayedClass(DelayedFunction):
    """What ``@delayed_task`` makes of a ``TaskBase`` subclass: calling it stores a call of ``run``."""

    def __init__(self, cls: type[TaskBase], **options: Any) -> None:
        super().__init__(cls, **options)  # type: ignore[arg-type]
        signature = inspect.signature(cls.run)
        self._set_signature(signature.replace(parameters=list(signature.parameters.values())[1:]))  # without self

    def _wrap(self, cls: Any) -> None:
        # The class's name and docs, not its namespace (update_wrapper would copy its run()
        # over this object's, which the worker calls).
        functools.update_wrapper(self, cls, updated=())

    def __repr__(self) -> str:
        return f"<delayed_task class {self.name or self.path}>"

    def run_inline(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task here and now on a new instance (``task`` is None)."""
        return self._run_instance(self.func(), args, kwargs)

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        instance = self.func()
        instance.task = current_task()
        return self._run_instance(instance, args, kwargs)

    @staticmethod
    def _run_instance(instance: TaskBase, args: Any, kwargs: dict[str, Any]) -> Any:
        result = instance.run(*args, **kwargs)
        if result is None and instance._output is not _NOTHING:
            return instance._output  # what set_output() stored stays the result
        return result
