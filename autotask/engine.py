"""Which engine runs the tasks: autotask's own workers, or Celery's (``AUTOTASK_ENGINE``).

The core knows one hook of the engine: ``handover``, called after the commit
that stored tasks, with their ids. None (the default engine): autotask's own
workers claim the rows, and the caller's companion is woken. Celery: the rows
are handed to the broker (``autotask.contrib.celery``), which is imported only
when configured.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable, Sequence

from .conf import conf

logger = logging.getLogger(__name__)

AUTOTASK = "autotask"
CELERY = "celery"

#: Called after the commit that stored tasks, with their ids (and their ``queue.handover.FIELDS``
#: when the caller knows them); None: autotask's own workers run them.
handover: Callable[[Sequence[uuid.UUID], Sequence[dict[str, Any]] | None], None] | None = None


def name() -> str:
    return conf.ENGINE


def is_celery() -> bool:
    return conf.ENGINE == CELERY


def configure(**kwargs: Any) -> None:
    """Set the hook for the configured engine (at ``ready()``, and when the setting changes in tests)."""
    global handover
    if kwargs.get("setting") not in (None, "AUTOTASK_ENGINE", "AUTOTASK_CELERY_APP"):
        return
    if is_celery():
        try:
            from .contrib.celery import wiring
        except ImportError as exc:  # reported by the system check autotask.E010
            logger.error("AUTOTASK_ENGINE is 'celery' but Celery can't be imported: %s", exc)
            handover = None
            return
        wiring.install()
        handover = wiring.hand_over
    else:
        handover = None


def hand_over(task_ids: Sequence[uuid.UUID]) -> None:
    """Hand tasks that are WAITING again (a retry, a recovered run) to the engine, if it is not autotask's."""
    if handover is not None and task_ids:
        handover(task_ids, None)
