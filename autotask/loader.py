"""Dotted paths: find a task's function from its path, as a worker must, and name a class."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def resolve(path: str) -> Callable[..., Any]:
    """Import ``module.qualname`` and return the plain function behind it.

    Raises ``ImportError`` saying what is missing.
    """
    parts = path.split(".")
    error: Exception | None = None
    for split in range(len(parts) - 1, 0, -1):
        module_name, attrs = ".".join(parts[:split]), parts[split:]
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                error = exc
                continue  # the module isn't there: maybe the path's tail is a class
            raise ImportError(f"importing {module_name} for task {path} failed: {exc}") from exc
        try:
            for attr in attrs:
                obj = getattr(obj, attr)
        except AttributeError:
            raise ImportError(f"task function {path} no longer exists: {module_name} has no {'.'.join(attrs)}") from None
        return getattr(obj, "func", obj)  # a @delayed_task wrapper runs its plain function
    raise ImportError(f"task function {path} no longer exists: {error}")


def full_name(cls: type) -> str:
    """``module.QualName`` of a class, as stored in a task's ``exception_class``."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
