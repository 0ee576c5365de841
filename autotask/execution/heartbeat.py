"""The worker's lease and the cancel requests of its running tasks, looked after by its loop.

Every ``AUTOTASK_HEARTBEAT_INTERVAL`` seconds the worker row's
``heartbeat_at`` is written: one write per process covers all its running
tasks (a worker whose row was removed by another that presumed it lost
registers again). Every ``CANCEL_CHECK`` seconds while tasks run, one query
asks which of them were cancelled, and those are interrupted.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from django.db import DatabaseError

from .. import db, queue, stats, timeutil
from ..conf import conf
from ..exceptions import CancelRequested
from .interrupts import interrupt

if TYPE_CHECKING:
    from .loop import Worker

logger = logging.getLogger(__name__)

CANCEL_CHECK = 0.25  # seconds between looks for cancel requests while tasks run


class Heartbeat:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.next_beat = 0.0
        self.next_cancel_check = 0.0

    def next_due(self) -> float:
        running = any(slot.in_task for slot in self.worker.slots)
        return min(self.next_beat, self.next_cancel_check if running else float("inf"))

    def run(self) -> None:
        """Beat, and look for cancel requests, if it is time; database trouble is logged, never raised."""
        worker = self.worker
        now = time.monotonic()
        try:
            running = {}
            for slot in worker.slots:
                task = slot.current
                if task is not None:
                    running[task["id"]] = slot
            if running and now >= self.next_cancel_check:
                self.next_cancel_check = now + CANCEL_CHECK
                for task_id in queue.cancel_requested(worker.identity):
                    if task_id in running:
                        interrupt(running[task_id], task_id, CancelRequested("cancelled"))
            if now >= self.next_beat:
                self.next_beat = now + conf.HEARTBEAT_INTERVAL
                self._beat()
        except DatabaseError as exc:
            logger.warning("heartbeat failed (%s)", exc)
            db.reset_connection(worker.using)

    def _beat(self) -> None:
        from ..models import Worker as WorkerRow

        worker = self.worker
        beat = db.retry_locked(
            lambda: WorkerRow.objects.using(worker.using)
            .filter(pk=worker.identity.id)
            .update(heartbeat_at=timeutil.now(), tasks_done=worker.tasks_done),
            "heartbeat",
        )
        if not beat and not worker.stopping.is_set():
            logger.warning("this worker was presumed lost by another; registering again")
            worker.register()
        stats.flush(worker.identity.id)  # the dashboard's run figures (autotask.stats)
