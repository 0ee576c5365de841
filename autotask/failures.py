"""A task's failure both ways: stored by the worker, raised again by ``wait()``.

The worker stores a failure as its exception class's dotted path
(``builtins.ValueError``, ``myapp.tasks.QuotaExceeded``), its message
(``str(exc)``) and the traceback text from the task's own frames on
(``task_traceback``).

``DelayedTask.wait()`` turns a failed row back into an exception
(``exception_for``): an instance of ``autotask.TaskError`` in every case, and
also of the task's own exception class where that class can be imported, is
an ``Exception`` and is built from one message argument (a built-in exception,
or a class whose ``__init__`` takes one positional argument). No other
constructor is ever called with stored data: a class that needs more
arguments, or can't be imported, gives a plain ``TaskError``.
"""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from typing import Any

from . import loader
from .exceptions import TaskCancelled, TaskError
from .task import CANCELLED

_AUTOTASK_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def task_traceback(exc: BaseException) -> str:
    """The traceback text of ``exc``, from the first frame of the task's own code on.

    The frames of autotask that called the task (worker, runner, the decorator's
    ``run``) are left out; if every frame is autotask's, the failure is
    autotask's own and the whole traceback is kept.
    """
    first = exc.__traceback__
    while first is not None and first.tb_frame.f_code.co_filename.startswith(_AUTOTASK_DIR):
        first = first.tb_next
    return "".join(traceback.format_exception(type(exc), exc, first or exc.__traceback__))


class _Rebuilt(TaskError):
    """The ``TaskError`` side of a rebuilt exception: its ``__init__`` is the plain
    exception's, so the task's class (first in the MRO) sets ``args`` as it did."""

    def __init__(self, *args: Any) -> None:
        Exception.__init__(self, *args)


def _str(self: _Rebuilt) -> str:
    return self.message  # what str() of the original gave (KeyError's own would quote it again)


def _reduce(self: _Rebuilt) -> tuple[Any, ...]:
    return (exception_for, ("", self.exception_class, self.message, self.traceback))


@functools.lru_cache(maxsize=256)
def _rebuilt_class(cls: type[Exception]) -> type[_Rebuilt] | None:
    """A class that is both ``cls`` and a ``TaskError``, named as ``cls``; None if
    Python can't combine them (a layout or metaclass conflict). ``str()`` and
    pickling are its own, ahead of whatever ``cls`` defines."""
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__str__": _str, "__reduce__": _reduce}
    try:
        return type(cls.__name__, (cls, _Rebuilt), namespace)
    except TypeError:
        return None


def _takes_one_argument(cls: type) -> bool:
    """Whether the ``__new__`` and ``__init__`` that ``cls`` uses accept one positional
    argument. Those of built-in classes are C code that only checks its arguments;
    the attempt to build the exception tells (UnicodeDecodeError wants five)."""
    for name in ("__new__", "__init__"):
        owner = next(klass for klass in cls.__mro__ if name in klass.__dict__)
        if owner.__module__ == "builtins":
            continue
        method = owner.__dict__[name]
        method = getattr(method, "__func__", method)  # __new__ is a staticmethod
        try:
            inspect.signature(method).bind(cls, "message")
        except (TypeError, ValueError):
            return False
    return True


def _task_class(path: str) -> type[Exception] | None:
    if not path or "." not in path:
        return None
    try:
        cls = loader.find(path)
    except Exception:  # ImportError, or whatever importing its module raised
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else None


def exception_for(status: str, exception_class: str, message: str, traceback: str) -> TaskError:
    """The exception ``wait()`` raises for a task that ended ``status`` (ERROR or CANCELLED).

    The task's traceback text is its ``traceback`` attribute, and a note that
    Python 3.11+ prints below the waiting process's own traceback.
    """
    error = _build(status, exception_class, message, traceback)
    if traceback:
        error.__notes__ = [f"The task's traceback, in its worker:\n{traceback.rstrip()}"]
    return error


def _build(status: str, exception_class: str, message: str, traceback: str) -> TaskError:
    if status == CANCELLED:
        return TaskCancelled(exception_class or loader.full_name(TaskCancelled), message, traceback)
    cls = _task_class(exception_class)
    if cls is None:
        return TaskError(exception_class, message, traceback)
    if issubclass(cls, TaskError) and cls.__module__ == TaskError.__module__:  # TaskTimeout, WorkerLost
        return cls(exception_class, message, traceback)
    rebuilt_class = _rebuilt_class(cls) if _takes_one_argument(cls) else None
    if rebuilt_class is None:
        return TaskError(exception_class, message, traceback)
    try:
        error = rebuilt_class(message)
    except Exception:
        return TaskError(exception_class, message, traceback)
    error.exception_class, error.message, error.traceback = exception_class, message, traceback
    return error
