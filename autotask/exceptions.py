"""autotask's exceptions: one base class, a docstring per error."""

from __future__ import annotations


class AutotaskError(Exception):
    """Base class of every error autotask raises."""


class TaskError(AutotaskError):
    """A task ended in ERROR; raised by ``DelayedTask.wait()``."""

    def __init__(self, exception_class: str, message: str, traceback: str = "") -> None:
        self.exception_class = exception_class
        self.message = message
        self.traceback = traceback
        short = exception_class.rsplit(".", 1)[-1] if exception_class else "TaskError"
        super().__init__(f"{short}: {message}" if message else short)


class TaskCancelled(AutotaskError):
    """Raised inside a running task that was cancelled, to stop it."""


class TaskTimeout(AutotaskError):
    """Raised inside a running task that went over its timeout."""


class WorkerStopping(AutotaskError):
    """Raised inside a running task whose worker must stop now."""
