"""The task table as a queue: store, claim, record, cancel, recover, clean.

Every state change of a task row happens in this package, each in one short
write transaction:

- ``store``: the caller's side (enqueue on the caller's connection, read, cancel);
- ``claim``: a worker takes due tasks (and hands back those it won't run), or one given task;
- ``record``: a worker records how runs ended;
- ``maintain``: tasks of lost workers are recovered, expired ones removed.
"""

from .claim import (
    CLAIM_FIELDS, WorkerIdentity, cancel_requested, claim, claim_task, next_due_time, register_worker, release,
    waits_before,
)
from .maintain import alive_workers, delete_expired, recover_lost
from .record import Outcome, finish
from .sql import HOST
from .store import BULK_CHUNK, Storable, cancel, enqueue, enqueue_many, read, set_progress, set_result

__all__ = [
    "BULK_CHUNK", "CLAIM_FIELDS", "HOST", "Outcome", "Storable", "WorkerIdentity", "alive_workers", "cancel",
    "cancel_requested", "claim", "claim_task", "delete_expired", "enqueue", "enqueue_many", "finish",
    "next_due_time", "read", "recover_lost", "register_worker", "release", "set_progress", "set_result", "waits_before",
]
