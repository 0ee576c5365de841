"""Django's ``TaskResult`` of a stored task, read from its row.

Status: WAITING is READY (stored, or waiting for a retry), RUNNING is RUNNING,
DONE is SUCCESSFUL, ERROR and CANCELLED are FAILED (Django has no cancelled
state; ``errors`` says why: ``autotask.exceptions.TaskCancelled``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import uuid
from typing import Any, Callable

from .. import attempt_history, loader, queue, serialization
from ..task import BLOCKED, CANCELLED, DONE, ERROR, QUEUED, RUNNING, WAITING
from .compat import Task, TaskError, TaskResult, TaskResultDoesNotExist, TaskResultStatus, normalize_json, task_backends

STATUSES = {
    WAITING: TaskResultStatus.READY,
    BLOCKED: TaskResultStatus.READY,  # waiting for its dependencies
    QUEUED: TaskResultStatus.READY,  # handed to Celery
    RUNNING: TaskResultStatus.RUNNING,
    DONE: TaskResultStatus.SUCCESSFUL,
    ERROR: TaskResultStatus.FAILED,
    CANCELLED: TaskResultStatus.FAILED,
}
FIELDS = tuple(dict.fromkeys((
    "id", "function", "backend", "queue_name", "priority", "arguments", "status", "run_at", "created_at",
    "started_at", "finished_at", "attempts", "worker", "result", "exception_class", "traceback", *attempt_history.FIELDS,
)))


_PLAIN = frozenset({type(None), bool, int, float, str})


def plain_json(value: Any) -> Any:
    """``value`` as Django's backends keep arguments and return values: what JSON makes
    of it (a tuple is a list, bytes a string, a str enum a str, dict keys strings).
    ``TypeError`` for what JSON can't hold."""
    if type(value) in _PLAIN:
        return value
    return json.loads(json.dumps(normalize_json(value)))


def parse_id(result_id: Any) -> uuid.UUID:
    """The task id in ``result_id``; ``TaskResultDoesNotExist`` if it can't be one."""
    if isinstance(result_id, uuid.UUID):
        return result_id
    try:
        return uuid.UUID(str(result_id))
    except ValueError:
        raise TaskResultDoesNotExist(f"{result_id!r} is not the id of a task (autotask's ids are UUIDs)") from None


def read(result_id: Any, reader_alias: str) -> TaskResult:
    """The ``TaskResult`` of the django.tasks task stored under ``result_id``.

    Raises ``TaskResultDoesNotExist`` for an id that is malformed, unknown, gone
    (after its ttl), or of a task stored without a django.tasks backend.
    ``reader_alias`` stands in for a row's alias that TASKS no longer has.
    """
    task_id = parse_id(result_id)
    row = queue.read(task_id, FIELDS)
    if row is None or not row["backend"]:
        raise TaskResultDoesNotExist(f"no django.tasks task has the id {task_id} (or its record expired)")
    return from_row(row, reader_alias)


def from_row(row: dict[str, Any], reader_alias: str) -> TaskResult:
    alias = row["backend"] if row["backend"] in task_backends.settings else reader_alias
    runs = attempt_history.attempts(row)  # every attempt so far, oldest first
    errors = [error(run.exception_class, run.traceback) for run in runs if run.exception_class]
    if row["exception_class"] and row["started_at"] is None:  # cancelled before it ever ran
        errors.append(error(row["exception_class"], row["traceback"]))
    value = serialization.loads(row["result"]) if row["status"] == DONE and row["result"] is not None else None
    first = runs[0].started_at if runs else None
    return build(row, row["status"], alias, row["created_at"], errors, [run.worker for run in runs], first, value)


def build(
    row: dict[str, Any], status: str, alias: str, enqueued_at: dt.datetime, errors: list[TaskError],
    worker_ids: list[str], started_at: dt.datetime | None, value: Any = None,
) -> TaskResult:
    """The ``TaskResult`` of a task row (``row`` has at least the claim's columns) in ``status``:
    ``started_at`` is when its first attempt started, the row's own ``started_at`` its last."""
    # A retried task or a deferred one waits for its run_at: that is its run_after.
    run_after = row["run_at"] if row["run_at"] > enqueued_at else None
    try:
        task = stored_task(row["function"], alias, row["priority"], row["queue_name"], run_after)
    except ImportError as exc:
        raise TaskResultDoesNotExist(f"task {row['id']} can't be read here: {exc}") from exc
    # The arguments the worker decoded for the call (``run.execute``: these are what the task
    # gets, as Django's own backends pass a TaskResult's), or the row's (JSON already).
    args, kwargs = row["call"] if "call" in row else serialization.loads_call(row["arguments"])
    return made(
        TaskResult,
        task=task,
        id=str(row["id"]),
        status=STATUSES[status],
        enqueued_at=enqueued_at,
        started_at=started_at,
        finished_at=row["finished_at"] if status != RUNNING else None,
        last_attempted_at=row["started_at"],
        args=args,
        kwargs=kwargs,
        backend=alias,
        errors=errors,
        worker_ids=worker_ids,
        _return_value=value if status == DONE else None,
    )


def evolve(result: TaskResult, **changes: Any) -> TaskResult:
    """A copy of ``result`` with ``changes``."""
    cls = type(result)
    return _maker(cls)(**{name: changes[name] if name in changes else getattr(result, name) for name in _names(cls)})


def made(cls: type, **values: Any) -> Any:
    """A frozen dataclass ``cls`` with ``values`` (its defaults for the fields not given),
    set without its ``__init__``: ``TaskResult``'s normalizes the arguments again, which
    enqueue and the worker's signals would pay once more per task (they are JSON already)."""
    return _maker(cls)(**values)


@functools.lru_cache(maxsize=None)
def _maker(cls: type) -> Callable[..., Any]:
    """``made`` for ``cls``: a function written once per class that sets each field in
    turn, as dataclasses writes ``__init__`` (a loop over the fields took three times as
    long, and a worker makes two ``TaskResult`` per django.tasks run)."""
    namespace: dict[str, Any] = {"maker_new": object.__new__, "maker_set": object.__setattr__, "maker_cls": cls}
    params, lines = [], []
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING:
            params.append(field.name)
        else:
            namespace[f"default_{field.name}"] = field.default
            params.append(f"{field.name}=default_{field.name}")
        lines.append(f"    maker_set(made, {field.name!r}, {field.name})")
    source = "\n".join([f"def make(*, {', '.join(params)}):", "    made = maker_new(maker_cls)", *lines, "    return made"])
    exec(source, namespace)  # its only inputs are the field names of a dataclass
    return namespace["make"]


@functools.lru_cache(maxsize=None)
def _names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


def error(exception_class: str, traceback: str) -> TaskError:
    return TaskError(exception_class_path=class_path(exception_class), traceback=traceback)


def class_path(name: str) -> str:
    """A stored exception class name as the dotted path Django's ``TaskError`` imports
    (autotask stores builtins without their module)."""
    return name if "." in name else f"builtins.{name}"


@functools.lru_cache(maxsize=1024)
def stored_task(path: str, alias: str, priority: int, queue_name: str, run_after: dt.datetime | None) -> Task:
    """The ``Task`` at ``path`` as it was enqueued (not validated again: TASKS may have changed since)."""
    found = find_task(path)
    changes = {"backend": alias, "priority": priority, "queue_name": queue_name, "run_after": run_after}
    task = object.__new__(type(found))
    for field in dataclasses.fields(found):
        object.__setattr__(task, field.name, changes.get(field.name, getattr(found, field.name)))
    return task


def find_task(path: str) -> Task:
    """The django.tasks ``Task`` a worker imports from ``path`` (its ``module_path``)."""
    found = loader.find(path)
    if not isinstance(found, Task):
        raise ImportError(
            f"{path} is not a django.tasks Task but {type(found).__name__}: a task must be importable at its "
            "module_path, so keep the function's name for the decorated task"
        )
    return found
