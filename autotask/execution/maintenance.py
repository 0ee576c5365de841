"""What a worker does besides running tasks: recover lost workers' tasks, remove
expired ones, and replace itself when it has done enough or grown too big."""

from __future__ import annotations

import logging
import resource
import time
from typing import TYPE_CHECKING

from .. import queue
from ..conf import conf
from .child import EXIT_RECYCLE

if TYPE_CHECKING:
    from .loop import Worker
    from .slots import Slot

logger = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.next_run = 0.0  # monotonic time of the next look for lost workers
        self._next_clean = 0.0
        self.max_tasks = conf.WORKER_MAX_TASKS
        self.max_memory_mb = conf.WORKER_MAX_MEMORY_MB

    def run(self) -> None:
        """Recover lost workers' tasks every heartbeat interval; remove expired tasks every clean interval."""
        clock = time.monotonic()
        if clock >= self.next_run:
            self.next_run = clock + conf.HEARTBEAT_INTERVAL
            queue.recover_lost()
        if clock >= self._next_clean:
            self._next_clean = clock + conf.CLEAN_INTERVALL
            deleted = queue.delete_expired()
            if deleted:
                logger.info("removed expired tasks count=%s", deleted)

    def recycle_if_needed(self, slot: Slot) -> None:
        """After a run in ``slot`` (in its thread): have the worker replaced (by its supervisor)
        after too many tasks or above its memory limit; replace the slot's runner above it."""
        worker = self.worker
        reason = None
        if self.max_tasks and worker.tasks_done >= self.max_tasks:
            reason = f"ran {worker.tasks_done} tasks"
        elif self.max_memory_mb:
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            runner_mb = slot.runner.rss_mb()
            if rss_mb > self.max_memory_mb:
                reason = f"uses {rss_mb:.0f} MB"
            elif runner_mb > self.max_memory_mb:
                # The runner holds what timed tasks left behind: a new one starts on next need.
                logger.info("task runner uses %.0f MB: replacing it", runner_mb)
                slot.runner.close()
        if reason and not worker.stopping.is_set():
            logger.info("worker replaces itself: %s", reason)
            worker.drain(EXIT_RECYCLE)
