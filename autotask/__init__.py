"""autotask: background tasks for Django with nothing but the Django database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exceptions import AutotaskError, TaskCancelled, TaskError, TaskTimeout

if TYPE_CHECKING:
    from .tasks import DelayedTask

__all__ = ["AutotaskError", "TaskCancelled", "TaskError", "TaskTimeout", "current_task"]
__version__ = "1.0.0"


def current_task() -> DelayedTask | None:
    """The handle of the task running in this process; None outside a task."""
    from .tasks import current_task

    return current_task()
