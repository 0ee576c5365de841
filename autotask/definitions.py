"""What a worker runs for a stored task, found from the row's dotted path.

Every way in stores a dotted path in the task row; the worker imports what
it names and asks for its ``Runnable``: the callable and its retry policy,
and the object that signals name as their sender. A ``@delayed_task``
wrapper is its own runnable; a plain function (a schedule's) gets the default
policy; adapters (Django's tasks framework, ...) register a function that
makes a runnable of their own objects, when their module is imported, which
happens when the object's module is imported. The core knows none of them.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from . import loader
from .retry import DEFAULT, RetryPolicy


class Runnable(Protocol):
    path: str
    retry_policy: RetryPolicy
    sender: Any  # what ``autotask.signals`` name as the sender of this task's signals

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run one stored call here and now; return its result, raise its failure."""
        ...


class PlainFunction:
    """A function stored by its path without a wrapper of its own (a schedule's function)."""

    __slots__ = ("path", "func", "retry_policy")

    def __init__(self, path: str, func: Callable[..., Any], retry_policy: RetryPolicy = DEFAULT) -> None:
        self.path = path
        self.func = func
        self.retry_policy = retry_policy

    @property
    def sender(self) -> Any:
        return self.func

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.func(*args, **kwargs)


_ADAPTERS: list[Callable[[str, Any], Runnable | None]] = []


def register_adapter(adapter: Callable[[str, Any], Runnable | None]) -> None:
    """``adapter(path, obj)`` returns a runnable for the objects it knows, else None."""
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)


def runnable(path: str) -> Runnable:
    """The runnable stored under ``path``. Raises ``ImportError`` saying what is missing."""
    obj = loader.find(path)
    own = getattr(obj, "autotask_runnable", None)
    if own is not None:
        return own
    for adapter in _ADAPTERS:
        found = adapter(path, obj)
        if found is not None:
            return found
    if callable(obj):
        from .schedules import REGISTRY  # a schedule's options, if it is one

        spec = REGISTRY.get(path)
        return PlainFunction(path, obj, spec.retry_policy if spec is not None else DEFAULT)
    raise ImportError(f"task function {path} is not something autotask can run: {type(obj).__name__}")
