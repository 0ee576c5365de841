"""Tasks on a model instance (djangotasks): ``@delayed_task(...)`` on a model method.

``obj.method(*args)`` stores a call of the method for that object and returns
its handle. The row holds the object's model (``app_label.modelname`` of its
concrete model) and key in two indexed columns, so ``autotask.history(obj)``
is one index lookup; the stored arguments begin with the same two values, so
the worker's claim reads nothing more. The worker loads the object afresh
(through the class the method is defined on, when that is a model or a proxy
of it) and calls the method; an object deleted meanwhile ends the task ERROR.

``@delayed_task(after=["other_method"])``: calling this method for an object
first makes sure ``other_method`` has run DONE for that object: if it has
(any DONE record), nothing more; if it is waiting or running, this task waits
for it; else it is stored too, and this task waits for it (``after=``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable

from django.db import models

from . import db, queue, serialization
from .task import BLOCKED, DONE, RUNNING, WAITING
from .tasks import DelayedFunction, announce_stored

if TYPE_CHECKING:
    from .handle import DelayedTask


class ObjectGone(LookupError):
    """The model instance a method task was stored for no longer exists."""


def object_label(obj: models.Model) -> tuple[str, str]:
    """The (model, key) columns of ``obj``: its concrete model's ``app_label.modelname`` and its key as text.

    An unsaved object (no primary key) is a ``ValueError``.
    """
    if not isinstance(obj, models.Model):
        raise TypeError(f"autotask.history() takes a model instance, got {obj!r}")
    if obj.pk is None:
        raise ValueError(f"{obj!r} has no primary key yet: save it before storing a task on it")
    return obj._meta.concrete_model._meta.label_lower, str(obj.pk)


def history(obj: models.Model) -> list[DelayedTask]:
    """The handles of the tasks stored for ``obj`` (any method), newest first, as long as their records live."""
    from .handle import DelayedTask
    from .models import Task

    model, key = object_label(obj)
    ids = Task.objects.using(db.alias()).filter(object_model=model, object_id=key).order_by("-created_at", "-id")
    return [DelayedTask(pk) for pk in ids.values_list("id", flat=True)]


class ModelMethod(DelayedFunction):
    """What ``@delayed_task`` makes of a method defined in a class body: a descriptor that,
    on a model instance, gives a callable storing calls for that instance."""

    def __init__(self, func: Callable[..., Any], *, after: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(func, **kwargs)
        self.after_methods = after
        self.owner: type[models.Model] | None = None
        self.attribute = func.__name__
        self._checked = False

    def __set_name__(self, owner: type, name: str) -> None:
        if not (isinstance(owner, type) and issubclass(owner, models.Model)):
            raise TypeError(
                f"@delayed_task on method {name} of {owner.__qualname__}: methods can be tasks only on Django models "
                "(define a plain function at module level otherwise)"
            )
        self.owner, self.attribute = owner, name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self  # on the class: what the worker finds from the stored path
        return BoundMethodTask(self, obj)

    def __repr__(self) -> str:
        return f"<delayed_task {self.path}>"

    def __call__(self, *args: Any, **kwargs: Any) -> DelayedTask:
        raise TypeError(f"{self.path} is a task on a model object: call it on one, obj.{self.attribute}(...)")

    def bulk(self, calls: Any) -> list[DelayedTask]:
        raise TypeError(f"{self.path} is a task on a model object: call obj.{self.attribute}(...) for each object")

    def _after_tasks(self) -> list[ModelMethod]:
        """The methods named by ``after=``, checked at the first call (the class is complete by then)."""
        found = []
        for name in self.after_methods:
            other = getattr(self.owner, name, None)
            if not isinstance(other, ModelMethod):
                raise ValueError(
                    f"@delayed_task(after=[{name!r}]) on {self.path}: {name!r} is not a @delayed_task method of "
                    f"{self.owner.__qualname__ if self.owner else 'its model'}"
                )
            found.append(other)
        return found

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """In the worker: load the object afresh, call the method on it."""
        from django.apps import apps

        model_label, key, *rest = args
        model = apps.get_model(model_label)
        owner = self.owner
        load_as = owner if owner is not None and not owner._meta.abstract and owner._meta.concrete_model is model else model
        try:
            obj = load_as._base_manager.get(pk=key)
        except load_as.DoesNotExist:
            raise ObjectGone(f"{load_as._meta.label} object with primary key {key!r} no longer exists") from None
        return self.func(obj, *rest, **kwargs)

    def run_inline(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


class BoundMethodTask:
    """``obj.method``: calling it stores the call for ``obj`` and returns the handle."""

    __slots__ = ("task", "obj")

    def __init__(self, task: ModelMethod, obj: models.Model) -> None:
        self.task, self.obj = task, obj

    def __repr__(self) -> str:
        return f"<delayed_task {self.task.path} of {self.obj!r}>"

    def using(self, **options: Any) -> BoundMethodTask:
        """``obj.method.using(priority=10, after=[...])(...)``: as ``DelayedFunction.using``."""
        return BoundMethodTask(self.task.using(**options), self.obj)

    def run_inline(self, *args: Any, **kwargs: Any) -> Any:
        return self.task.func(self.obj, *args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> DelayedTask:
        from .handle import DelayedTask

        task, obj = self.task, self.obj
        model, key = object_label(obj)
        task._signature.bind(obj, *args, **kwargs)  # a wrong call fails here, not in the worker
        names = task._param_names
        arguments = serialization.dumps_call(
            (model, obj.pk, *args), kwargs, lambda i: names[i - 1] if 0 < i - 1 < len(names) else f"#{i}"
        )
        after_methods = task._after_tasks() if task.after_methods else []
        using = db.alias()
        # It reads (djangotasks' rule) before it writes: on SQLite the transaction takes the write
        # lock first, else a commit of another process in between fails the insert ("database is locked").
        with db.write_transaction(using):
            after = [*task.options.after, *(self._ran_first(other, model, key) for other in after_methods)]
            stored = task.using(after=[a for a in after if a is not None]) if after_methods else task
            handle = DelayedTask(queue.enqueue(stored, arguments, fields={"object_model": model, "object_id": key}))
        announce_stored(task, [handle])
        return handle

    def _ran_first(self, other: ModelMethod, model: str, key: str) -> uuid.UUID | None:
        """djangotasks' rule for ``after=["other"]``: None if ``other`` ended DONE for this object;
        else the id of its waiting or running task, or of a new one stored now."""
        from .models import Task

        rows = (
            Task.objects.using(db.alias())
            .filter(object_model=model, object_id=key, function=other.path, status__in=(DONE, WAITING, RUNNING, BLOCKED))
            .order_by("-created_at")
            .values_list("id", "status")
        )
        latest_unfinished = None
        for pk, status in rows:
            if status == DONE:
                return None
            latest_unfinished = latest_unfinished or pk
        if latest_unfinished is not None:
            return latest_unfinished
        return getattr(self.obj, other.attribute)().id
