"""autotask's exceptions: one base class, a docstring per error.

Two families. What a caller sees of a finished task (``DelayedTask.wait()``)
derives from ``TaskError``. What stops a task while it runs derives from
``Interrupt``, a ``BaseException``: a task's ``except Exception:`` can't
swallow a cancel, a timeout or a worker's stop.
"""

from __future__ import annotations


class AutotaskError(Exception):
    """Base class of every error autotask raises to its callers."""


class TaskError(AutotaskError):
    """A task ended in ERROR (or was cancelled, or timed out); raised by ``DelayedTask.wait()``."""

    def __init__(self, exception_class: str, message: str, traceback: str = "") -> None:
        self.exception_class = exception_class
        self.message = message
        self.traceback = traceback
        short = exception_class.rsplit(".", 1)[-1] if exception_class else "TaskError"
        super().__init__(f"{short}: {message}" if message else short)

    def __reduce__(self):  # picklable, though __init__ takes three arguments
        return (type(self), (self.exception_class, self.message, self.traceback))


class TaskCancelled(TaskError):
    """The task was cancelled, before or while it ran."""


class TaskTimeout(TaskError):
    """A run of the task went over its ``timeout``."""


class WorkerLost(TaskError):
    """The worker running the task died, and no retry was left."""


class TaskNotFound(AutotaskError, LookupError):
    """No task with this id exists: it never did, or its record was removed after its ttl."""


class Retry(AutotaskError):
    """Raised by a task to be run again, ``delay`` seconds from now (default: its retry policy's delay).

    Counts as a failed attempt: it needs retries left, else the task ends ERROR.
    """

    def __init__(self, message: str = "the task asked to be retried", *, delay: float | None = None) -> None:
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0):
            raise ValueError(f"Retry(delay=...) must be a number of seconds, 0 or more, got {delay!r}")
        self.delay = delay
        super().__init__(message)


class Interrupt(BaseException):
    """Raised inside a running task to stop it. Not an ``Exception``: ``except
    Exception`` in a task can't swallow it, and a task that catches it anyway
    still ends as the interrupt says."""


class CancelRequested(Interrupt):
    """Raised inside a running task that was cancelled."""


class TimeLimitExceeded(Interrupt):
    """Raised inside a running task that went over its ``timeout``."""


class WorkerStopping(Interrupt):
    """Raised inside a running task whose worker must stop now (the task goes back to the queue)."""
