"""A django.tasks fixture task in a module of its own: a worker that runs only it has no
receiver of Django's task signals but Django's own (``tests.tasks_django`` connects some)."""

import logging
import os

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from autotask.backends.compat import task_finished, task_started
from autotask.backends.execution import heard

from .models import Note


@task(backend="retrying", takes_context=True)
def context_on_second_attempt(context, key):
    """Fails its first attempt; returns what its context says, and whether the worker sends
    Django's signals at all."""
    Note.objects.create(key=key, value=f"{context.attempt} {context.task_result.status}", pid=os.getpid())
    if context.attempt == 1:
        raise RuntimeError("the first attempt fails")
    sent = [heard(task_started, logging.INFO), heard(task_finished, logging.INFO), heard(task_finished, logging.ERROR)]
    return {"attempt": context.attempt, "id": context.task_result.id, "sent": sent}
