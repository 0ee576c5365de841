"""Dotted paths: name a task's function as a worker will import it, find it again from
that path, and name a class."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def dotted_path(func: Callable[..., Any]) -> str:
    """The path a worker imports ``func`` by; refuse functions it could not import."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise ValueError(f"{func!r} can't be a task: a worker must be able to import it, so define it at module level")
    if module == "__main__":
        raise ValueError(f"{qualname} can't be a task: it is defined in __main__, which a worker can't import")
    return f"{module}.{qualname}"


def find(path: str) -> Any:
    """Import ``module.qualname`` and return what it names (a decorated task, a function, a class...).

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
        return obj
    raise ImportError(f"task function {path} no longer exists: {error}")


def full_name(cls: type) -> str:
    """``module.QualName`` of a class, as stored in a task's ``exception_class``: always
    the dotted path, ``builtins.ValueError`` for a built-in (as Django's
    ``TaskError.exception_class_path``)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve(path: str) -> Callable[..., Any]:
    """The plain function behind ``path`` (a ``@delayed_task`` wrapper's own function)."""
    obj = find(path)
    return getattr(obj, "func", obj)
