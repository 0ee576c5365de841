"""Status constants of a delayed task (autotask 0.5's import path)."""

from typing import Final

WAITING: Final = "WAITING"
RUNNING: Final = "RUNNING"
DONE: Final = "DONE"
ERROR: Final = "ERROR"
CANCELLED: Final = "CANCELLED"
#: Internal: stored WAITING and handed to another engine (Celery), not started yet. The
#: handle and the admin show it as WAITING; autotask's own claims never take it.
QUEUED: Final = "QUEUED"

#: Statuses of a task that will not change any more.
FINISHED: Final = (DONE, ERROR, CANCELLED)
#: Statuses of a task that has not finished yet.
UNFINISHED: Final = (WAITING, QUEUED, RUNNING)

STATUS_CHOICES: Final = [(s, s.capitalize()) for s in (WAITING, RUNNING, DONE, ERROR, CANCELLED)] + [
    (QUEUED, "Waiting (in Celery)")
]
