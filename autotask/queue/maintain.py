"""Keeping the table healthy: recover the tasks of lost workers, remove expired ones."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import Counter
from typing import Any

from django.db.models import F

from .. import attempt_history, db, signals, timeutil
from ..conf import conf
from ..exceptions import WorkerLost
from ..loader import full_name
from ..task import CANCELLED, ERROR, RUNNING, WAITING
from . import dependencies, expiry
from .sql import HOST, models as _models

logger = logging.getLogger(__name__)

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive_workers() -> list[dict[str, Any]]:
    """The workers that sent a heartbeat within ``AUTOTASK_WORKER_LOST_AFTER`` seconds:
    their ``host``, ``pid`` and ``queues`` (comma-separated; '' takes all)."""
    fresh = timeutil.now() - dt.timedelta(seconds=conf.WORKER_LOST_AFTER)
    return list(_models().Worker.objects.using(db.alias()).filter(heartbeat_at__gte=fresh).values("host", "pid", "queues"))


def recover_lost() -> int:
    """Runs whose worker is gone are run again (if retries remain) or end ERROR.

    A worker is gone when its heartbeat is older than ``AUTOTASK_WORKER_LOST_AFTER``,
    or, on this host, when its process no longer exists.
    """
    models = _models()
    using = db.alias()
    now = timeutil.now()
    stale = now - dt.timedelta(seconds=conf.WORKER_LOST_AFTER)
    lost_workers = []
    for worker in models.Worker.objects.using(using).all():
        if worker.heartbeat_at < stale or (worker.host == HOST and not _pid_alive(worker.pid)):
            lost_workers.append(worker)
    live = set(models.Worker.objects.using(using).values_list("id", flat=True)) - {w.id for w in lost_workers}
    orphans = [
        task
        for task in models.Task.objects.using(using).running().values(
            "id", "function", "worker_id", "worker", "attempts", "retries", "losses", "cancel_requested", "ttl",
            "schedule_id", "started_at", "history", "has_dependents",
        )
        if task["worker_id"] not in live
    ]
    # Each claim is a slot's: one task it ran, or a batch of quick ones in which it
    # ran one after another. A claim's tasks share their worker and started_at.
    held = Counter((task["worker_id"], task["started_at"]) for task in orphans)
    recovered = sum(_recover(task, now, batch=held[task["worker_id"], task["started_at"]] > 1) for task in orphans)
    if lost_workers:
        models.Worker.objects.using(using).filter(pk__in=[w.id for w in lost_workers]).delete()
    return recovered


def _recover(task: dict[str, Any], now: dt.datetime, batch: bool) -> int:
    """Settle one task held by a lost worker.

    A worker claims for one slot at a time, and a claim's tasks share their
    ``started_at``. A claim of one task was running it: the task runs again if
    retries remain, else it ends ERROR. A claim of several was a batch of quick
    tasks that its slot ran one after another: each may have run, be running or
    not have started, and nothing tells which, so each runs again and the
    claim's attempt is not counted (only ``MAX_WORKER_LOSSES`` stops a task that
    keeps taking its worker down). So a worker running several tasks at once, in
    several slots, has each of them treated as running: no write per task tells
    it, the claims do.
    """
    Task = _models().Task
    using = db.alias()
    message = f"worker {task['worker']} was lost while {'holding' if batch else 'running'} this task"
    losses = task["losses"] + 1
    fields: dict[str, Any] = {
        "worker_id": None, "runner_pid": None, "losses": losses, "error_message": message, "exception_class": "",
        "traceback": "",
    }
    if task["cancel_requested"]:
        fields.update(status=CANCELLED, error_message="cancelled", exception_class="autotask.exceptions.TaskCancelled")
    elif (batch or task["attempts"] <= task["retries"]) and losses < conf.MAX_WORKER_LOSSES:
        fields.update(status=WAITING, run_at=now + dt.timedelta(seconds=conf.RETRY_DELAY))
        if batch:
            fields.update(attempts=F("attempts") - 1)
        else:  # the lost run was an attempt: it is kept
            lost = attempt_history.entry(
                task["attempts"], task["started_at"], now, task["worker"], None, message, full_name(WorkerLost), ""
            )
            fields.update(history=attempt_history.appended(task["history"], lost))
    else:
        if losses >= conf.MAX_WORKER_LOSSES:
            message += f"; not retried: its worker was lost {losses} times"
        fields.update(status=ERROR, error_message=message, exception_class=full_name(WorkerLost))
    if fields["status"] != WAITING:
        fields.update(finished_at=now, expires_at=expiry.expires_at(fields["status"], now, task["ttl"]))

    cancelled: list[Any] = []

    def attempt() -> int:
        cancelled.clear()
        with db.write_transaction(using):
            updated = (
                Task.objects.using(using)
                .filter(pk=task["id"], status=RUNNING, worker_id=task["worker_id"])
                .update(**fields)
            )
            if updated and task["has_dependents"] and fields["status"] != WAITING:
                cancelled.extend(dependencies.settle(using, [], [task["id"]]))  # it ended ERROR or CANCELLED
            return updated

    done = db.retry_locked(attempt, "recover")
    dependencies.announce(cancelled)
    if done:
        logger.warning("recovered task=%s worker=%s status=%s", task["id"], task["worker"], fields["status"])
        if fields["status"] != WAITING:
            if task.get("schedule_id"):
                _models().Schedule.objects.using(using).filter(pk=task["schedule_id"]).update(
                    last_status=fields["status"], last_error=fields["error_message"]
                )
            signals.announce_finished(task["id"], task["function"], fields["status"])
    return done


def delete_expired(chunk: int = 1000) -> int:
    """Remove finished tasks whose ttl has passed, a chunk per transaction; then cancel the
    tasks that wait for a task whose record is gone unfinished (deleted by hand)."""
    Task = _models().Task
    using = db.alias()
    deleted = 0
    while True:
        now = timeutil.now()
        ids = list(Task.objects.using(using).expired(now).values_list("id", flat=True)[:chunk])
        if not ids:
            dependencies.cancel_orphans()
            return deleted

        def attempt() -> int:
            with db.write_transaction(using):
                # Their output (autotask.output) goes with them, in one more statement.
                removed = Task.objects.using(using).filter(pk__in=ids).delete()[1].get(Task._meta.label, 0)
                # The dependency rows of removed dependents (those of a removed dependency stay:
                # its dependents still name it).
                _models().TaskDependency.objects.using(using).filter(dependent__in=ids).delete()
                return removed

        deleted += db.retry_locked(attempt, "clean")
