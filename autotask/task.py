"""Status constants of a delayed task (autotask 0.5's import path)."""

from typing import Final

WAITING: Final = "WAITING"
RUNNING: Final = "RUNNING"
DONE: Final = "DONE"
ERROR: Final = "ERROR"
CANCELLED: Final = "CANCELLED"
#: Internal: a task whose dependencies (``after=``) have not all ended DONE yet. Handles and
#: Django's results show it as WAITING; the claim, which takes WAITING rows only, never sees it.
BLOCKED: Final = "BLOCKED"
#: Internal: stored WAITING and handed to another engine (Celery), not started yet. The
#: handle and the admin show it as WAITING; autotask's own claims never take it.
QUEUED: Final = "QUEUED"

#: Statuses of a task that will not change any more.
FINISHED: Final = (DONE, ERROR, CANCELLED)
#: Statuses of a task that has not finished yet.
UNFINISHED: Final = (WAITING, QUEUED, RUNNING, BLOCKED)

STATUS_CHOICES: Final = [(s, s.capitalize()) for s in (WAITING, RUNNING, DONE, ERROR, CANCELLED)] + [
    (BLOCKED, "Waiting for dependencies"), (QUEUED, "Waiting (in Celery)"),
]
