"""The worker's heartbeat thread: keeps its lease alive and watches for a cancel
request of the running task.

Every ``AUTOTASK_HEARTBEAT_INTERVAL`` seconds it writes the worker row's
``heartbeat_at`` (a worker whose row was removed by another that presumed it
lost registers again); every 0.25 s, while a task runs, it asks whether that
task was cancelled, and interrupts it if so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections

from .. import db, queue, stats, timeutil
from ..conf import conf
from ..exceptions import CancelRequested
from . import interrupts

if TYPE_CHECKING:
    from .loop import Worker

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=self._loop, name="autotask-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)

    def _loop(self) -> None:
        from ..models import Worker as WorkerRow

        worker, slot = self.worker, self.worker.slot
        next_beat = 0.0
        try:
            while not worker.stopping.wait(0.25):
                current = slot.current
                if current is not None:
                    try:
                        if queue.cancel_requested(current["id"]) and current is slot.current:
                            interrupts.interrupt_task(slot, CancelRequested("cancelled"))
                    except DatabaseError:
                        db.reset_connection(worker.using)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + conf.HEARTBEAT_INTERVAL
                    try:
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
                    except DatabaseError as exc:
                        logger.warning("heartbeat failed (%s)", exc)
                        db.reset_connection(worker.using)
        finally:
            connections.close_all()
