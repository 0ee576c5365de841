"""Django's tasks framework, from wherever it is: ``django.tasks`` (Django 6) or
the ``django-tasks`` backport (``django_tasks``, Django 5.2), where some names differ.

Everything else in this package imports these names from here: one code path
for both.
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec("django.tasks") is not None:
    from django.tasks import task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import log_task_enqueued, log_task_finished, log_task_started
    from django.tasks.signals import logger as tasks_logger
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
elif find_spec("django_tasks") is not None:
    from django_tasks import task_backends  # type: ignore[no-redef]
    from django_tasks.backends.base import BaseTaskBackend  # type: ignore[no-redef]
    from django_tasks.base import (  # type: ignore[no-redef]
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django_tasks.exceptions import InvalidTaskError as InvalidTask  # type: ignore[no-redef]
    from django_tasks.exceptions import TaskResultDoesNotExist  # type: ignore[no-redef]
    from django_tasks.signals import (  # type: ignore[no-redef]
        log_task_enqueued,
        log_task_finished,
        log_task_started,
        task_enqueued,
        task_finished,
        task_started,
    )
    from django_tasks.signals import logger as tasks_logger  # type: ignore[no-redef]
    from django_tasks.utils import normalize_json  # type: ignore[no-redef]
else:
    raise ImportError(
        "autotask.backends needs Django's tasks framework: Django 6 (django.tasks), or on Django 5.2 the "
        "django-tasks package (pip install 'autotask[django-tasks]', and 'django_tasks' in INSTALLED_APPS)"
    )

# Django's own receiver of each of its task signals: it only logs, to ``tasks_logger``.
LOG_RECEIVERS = {task_enqueued: log_task_enqueued, task_started: log_task_started, task_finished: log_task_finished}

__all__ = [
    "LOG_RECEIVERS", "BaseTaskBackend", "InvalidTask", "Task", "TaskContext", "TaskError", "TaskResult",
    "TaskResultDoesNotExist", "TaskResultStatus", "normalize_json", "task_backends", "task_enqueued", "task_finished",
    "task_started", "tasks_logger",
]
