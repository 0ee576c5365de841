"""``AUTOTASK_EAGER = True``: every call runs at once, in the calling process, for tests.

A call is stored as always (the same row, on the caller's connection), then
claimed by its id (``queue.claim_task``) and run and recorded here and now by
the code every worker runs (``execution.run.run_task``). So the caller gets a
real handle to a finished task: ``status``, ``result``, ``wait()``,
``progress``, retries, signals and the admin behave as with a worker. What a
worker loop adds, and eager mode does not:

- no waiting: a ``delay``, a ``run_after`` and the pause before a retry are
  skipped; the retries a task is allowed all run before the call returns;
- no ``timeout`` (nothing interrupts the run) and no cancel while it runs
  (``cancel()`` afterwards finds it finished and returns False);
- schedules (``@periodic_task``, ``@cron_task``) never run by themselves: no
  worker starts in eager mode;
- the dashboard's per-minute figures, which workers count and write with
  their heartbeats, leave eager runs out (the task rows are there as always).

Inside a transaction (a Django ``TestCase`` is one) the task runs at once, in
that transaction, on the caller's connection: it sees the caller's
uncommitted rows, and what it writes is rolled back with the caller's
transaction. Its call runs in a savepoint there, so a task that fails with a
database error (its writes undone) leaves the caller's transaction usable,
and its failure is recorded all the same.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Iterable

from django.db import DatabaseError, connections, transaction

from . import db, queue
from .execution.run import call_here, run_task
from .queue import Outcome
from .task import WAITING

logger = logging.getLogger(__name__)


def run(task_ids: Iterable[uuid.UUID]) -> None:
    """Run the stored tasks ``task_ids`` here and now, each to its end (retries included), in order."""
    worker = queue.WorkerIdentity.new()  # the row's worker column reads host:pid, as a worker's would
    for task_id in task_ids:
        while True:
            task = queue.claim_task(worker, task_id)
            if task is None:  # no longer waiting: finished, or cancelled by a task that ran before
                break
            outcome = run_task(task, worker, _call)
            if outcome.status != WAITING or outcome.attempts_delta:
                break
            logger.debug("eager retry task=%s attempt=%s", task_id, task["attempts"] + 1)


def _call(runnable: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
    """``call_here``, inside a savepoint when the caller is in a transaction."""
    using = db.alias()
    if not connections[using].in_atomic_block:
        return call_here(runnable, args, kwargs, task)
    return call_here(_InSavepoint(runnable, using), args, kwargs, task)


class _InSavepoint:
    """A runnable whose ``run`` runs in a savepoint of the caller's transaction.

    What a failed run wrote stays, as it would with a worker (whose queries
    commit one by one), unless the failure is a database error or left the
    transaction marked for rollback: then the savepoint is rolled back, so the
    caller's transaction (and the record of the failure) can go on.
    """

    __slots__ = ("runnable", "using")

    def __init__(self, runnable: Any, using: str) -> None:
        self.runnable = runnable
        self.using = using

    def run(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        failure = None
        with transaction.atomic(using=self.using):  # rolled back if needs_rollback is set at its end
            try:
                return self.runnable.run(args, kwargs)
            except DatabaseError:
                raise  # rolled back to the savepoint: on PostgreSQL the transaction is unusable until then
            except BaseException as exc:  # kept, and raised once its writes are released
                failure = exc
        assert failure is not None
        raise failure
