"""Tasks by name: ``@delayed_task(name="add")`` registers, ``autotask.enqueue("add", ...)`` stores a call.

The name is unique in the project. The row stores the dotted path as well, so
a worker finds the function without knowing the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:
    from .handle import DelayedTask
    from .tasks import DelayedFunction

MAX_NAME = 200
REGISTRY: dict[str, DelayedFunction] = {}


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"a task's name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME:
        raise ValueError(f"a task's name must be at most {MAX_NAME} characters, got {len(name)}: {name[:40]!r}...")


def register(name: str, func: DelayedFunction) -> None:
    """Register ``func`` under ``name``; a second function with the same name is a ``ValueError``."""
    known = REGISTRY.get(name)
    if known is not None and known.path != func.path:  # the same function imported again is fine
        raise ValueError(f"task name {name!r} is taken by {known.path}; {func.path} needs another name")
    REGISTRY[name] = func


def lookup(name: str) -> DelayedFunction:
    """The task registered under ``name``, importing every app's ``tasks`` module first if needed."""
    check_name(name)
    if name not in REGISTRY:
        autodiscover_modules("tasks")
    try:
        return REGISTRY[name]
    except KeyError:
        pass
    from .schedules import REGISTRY as SCHEDULES

    for path in SCHEDULES:
        if name in (path, path.rsplit(".", 1)[-1]):
            raise LookupError(f"{name!r} is a schedule ({path}), not a delayed task: it runs on its schedule") from None
    known = ", ".join(sorted(REGISTRY)) or "none"
    raise LookupError(
        f"no task is registered under the name {name!r} (known names: {known}); name one with "
        "@delayed_task(name=...) in a module that is imported at start-up, such as an app's tasks.py"
    )


def enqueue(name: str, /, *args: Any, **kwargs: Any) -> DelayedTask:
    """Store a call of the task registered under ``name`` and return its handle."""
    return lookup(name)(*args, **kwargs)
