"""autotask: background tasks for Django with nothing but the Django database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import AutotaskError, Retry, TaskCancelled, TaskError, TaskNotFound, TaskTimeout, WorkerLost

if TYPE_CHECKING:
    from .handle import DelayedTask
    from .task_classes import TaskBase

__all__ = [
    "AutotaskError", "Retry", "TaskCancelled", "TaskError", "TaskNotFound", "TaskTimeout", "WorkerLost",
    "TaskBase", "current_task", "enqueue", "history",
]
__version__ = "1.0.0"


def __getattr__(name: str) -> Any:
    # ``autotask.TaskBase`` on first use: importing autotask stays light (no Django models).
    if name == "TaskBase":
        from .task_classes import TaskBase

        return TaskBase
    raise AttributeError(f"module 'autotask' has no attribute {name!r}")


def current_task() -> DelayedTask | None:
    """The handle of the task running in this thread; None outside a task."""
    from .handle import current_task

    return current_task()


def enqueue(name: str, /, *args: Any, **kwargs: Any) -> DelayedTask:
    """Store a call of the task registered under ``name`` (``@delayed_task(name=...)``) and return its handle.

    An unknown name raises ``LookupError`` naming the known ones.
    """
    from .names import enqueue

    return enqueue(name, *args, **kwargs)


def history(obj: Any) -> list[DelayedTask]:
    """The handles of the tasks stored for the model instance ``obj`` (any of its methods), newest first."""
    from .instances import history

    return history(obj)
