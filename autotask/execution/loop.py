"""The worker loop of one process: claim, run, record. Nothing a task does, no bad
row and no lost connection ends the loop; only a stop request does.

One task runs at a time, in the main thread (``slots.Slot``). A heartbeat
thread (``heartbeat.py``) keeps the worker's lease alive and watches for a
cancel request of the running task; a cancel, a timeout or the end of the
stop grace period interrupts the task (``interrupts.py``). How a run ended is
recorded by ``outcomes.py``; lost workers' tasks and expired ones are dealt
with by ``maintenance.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Sequence

from django.db import DatabaseError, ProgrammingError, connections
from django.utils.module_loading import autodiscover_modules

from .. import db, queue, schedules, stats, timeutil
from ..conf import conf
from ..exceptions import WorkerStopping
from ..options import check_queue_name
from ..queue import Outcome, WorkerIdentity
from . import interrupts, outcomes
from .heartbeat import Heartbeat
from .maintenance import Maintenance
from .slots import Slot
from .supervisor import EXIT_OK
from .wakeup import Waker

logger = logging.getLogger(__name__)

QUICK_TASK = 0.05  # seconds: while tasks are this quick, claim several at once
SCHEDULE_RECHECK = 1.0  # seconds between looks at the schedules while none is due


class Worker:
    def __init__(
        self, *, companion: bool = False, parent_fd: int | None = None, queues: Sequence[str] | None = None
    ) -> None:
        self.using = db.alias()
        if queues is None:
            queues = (conf.QUEUES or ()) if companion else ()
        for queue_name in queues:
            check_queue_name(queue_name)
        self.identity = WorkerIdentity.new(queues)
        self.companion = companion
        self.stopping = threading.Event()
        self.exit_code = EXIT_OK
        self.waker = Waker(self.using, on_parent_gone=self.stop, queues=self.identity.queues)
        self.parent_fd = parent_fd
        self.slot = Slot(self)
        self.maintenance = Maintenance(self)
        self.tasks_done = 0
        self._registered = False
        self._schedule_waits = False
        self._next_schedule_due: dt.datetime | None = None
        self._schedules_recheck_at = 0.0

    # -- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        """Claim nothing new; let the running task finish within ``AUTOTASK_STOP_GRACE``."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.waker.wake()
        if self.slot.current is not None:
            logger.info("stopping after the running task task=%s (grace %ss)", self.slot.current["id"], conf.STOP_GRACE)
            timer = threading.Timer(
                conf.STOP_GRACE, interrupts.interrupt_task, (self.slot, WorkerStopping("the worker is stopping"))
            )
            timer.daemon = True
            timer.start()

    def run(self) -> int:
        """Run until stopped; return the exit code for the supervisor."""
        interrupts.install_signal_handlers(self)
        if self.parent_fd is not None:
            self.waker.watch_parent(self.parent_fd)
        logger.info(
            "worker started worker=%s companion=%s queues=%s",
            self.identity.label, self.companion, ",".join(self.identity.queues) or "all",
        )
        heartbeat = Heartbeat(self)
        try:
            if not self._start_up():
                return self.exit_code
            self.waker.start()
            heartbeat.start()
            while not self.stopping.is_set():
                self._turn()
        finally:
            self.stopping.set()
            self.waker.close()
            self.slot.runner.close()
            heartbeat.join(timeout=5)
            stats.flush(self.identity.id)  # the dashboard's run figures (autotask.stats)
            self._unregister()
            connections.close_all()
            logger.info("worker stopped worker=%s tasks_done=%s", self.identity.label, self.tasks_done)
        return self.exit_code

    def _turn(self) -> None:
        """One turn of the loop; a database error is logged and waited out, never raised."""
        try:
            if self._tick():
                return
            self._idle()
        except DatabaseError as exc:
            logger.warning("database error in worker loop (%s); reconnecting", exc, exc_info=True)
            db.reset_connection(self.using)
            self.stopping.wait(1.0)
        except Exception:
            logger.exception("unexpected error in worker loop")
            self.stopping.wait(1.0)

    def _start_up(self) -> bool:
        """Register this worker and store the schedules, waiting out database trouble."""
        autodiscover_modules("tasks")  # registers the schedules of every app's tasks.py
        while self._wait_for_tables():
            try:
                self.register()
                schedules.sync()
                return True
            except DatabaseError as exc:
                logger.warning("database error while starting (%s); retrying", exc)
                db.reset_connection(self.using)
                self.stopping.wait(1.0)
        return False

    def _wait_for_tables(self) -> bool:
        """Missing migrations never crash anything: wait, and say why."""
        from ..models import MinuteStats, Schedule, Task, Worker as WorkerRow

        warned = False
        while not self.stopping.is_set():
            try:
                for model in (Task, Schedule, WorkerRow, MinuteStats):  # MinuteStats: the latest migration
                    model.objects.using(self.using).exists()
                if warned:
                    logger.warning("autotask's tables exist now; starting")
                return True
            except (ProgrammingError, DatabaseError) as exc:
                if not warned:
                    logger.warning("autotask's tables are missing (%s): run 'python manage.py migrate'; waiting", exc)
                    warned = True
                db.reset_connection(self.using)
                self.stopping.wait(5.0)
        return False

    def register(self) -> None:
        from ..models import Worker as WorkerRow

        now = timeutil.now()
        WorkerRow.objects.using(self.using).update_or_create(
            id=self.identity.id,
            defaults=dict(
                host=queue.HOST,
                pid=int(self.identity.label.rsplit(":", 1)[1]),
                companion=self.companion,
                queues=",".join(self.identity.queues),
                started_at=now,
                heartbeat_at=now,
            ),
        )
        self._registered = True

    def _unregister(self) -> None:
        if not self._registered:
            return
        from ..models import Worker as WorkerRow

        try:
            WorkerRow.objects.using(self.using).filter(pk=self.identity.id).delete()
        except DatabaseError:
            pass  # others will find the heartbeat stale

    # -- the loop ----------------------------------------------------------------

    def _tick(self) -> bool:
        """Do what is due now; return True if tasks ran."""
        self.maintenance.run()
        now = timeutil.now()
        self._claim_schedules(now)
        # As many as the last run's time says fit in QUICK_TASK seconds: quick tasks
        # come in batches, and no batch holds tasks long from other workers.
        limit = min(conf.CLAIM_BATCH, int(QUICK_TASK / max(self.slot.last_duration, 1e-6)))
        claimed = queue.claim(self.identity, max(1, limit))
        ran: list[tuple[dict[str, Any], Outcome]] = []
        batch_started = time.monotonic()
        for index, task in enumerate(claimed):
            if self.stopping.is_set():
                queue.release(self.identity, [t["id"] for t in claimed[index:]])
                break
            ran.append((task, self.slot.execute(task)))
            self.tasks_done += 1
            # Quick runs are recorded together, one transaction (one commit) for
            # several; a slower one is recorded as soon as it ends.
            if time.monotonic() - batch_started >= QUICK_TASK or index == len(claimed) - 1:
                outcomes.record(self, ran)
                ran, batch_started = [], time.monotonic()
            self.maintenance.recycle_if_needed()
            if self.slot.last_duration >= QUICK_TASK and index < len(claimed) - 1:
                # The batch's tasks are not all quick: the rest go back, for any worker to take.
                queue.release(self.identity, [t["id"] for t in claimed[index + 1:]])
                break
        outcomes.record(self, ran)
        return bool(claimed)

    def _claim_schedules(self, now: dt.datetime) -> None:
        """Look at the schedules when one is due, and at least every SCHEDULE_RECHECK
        seconds (another worker may have stored one due sooner): not on every turn."""
        due = self._next_schedule_due
        if time.monotonic() < self._schedules_recheck_at and not self._schedule_waits and (due is None or due > now):
            return
        _, self._schedule_waits = schedules.claim_due(now)
        self._next_schedule_due = schedules.next_due_time()
        self._schedules_recheck_at = time.monotonic() + SCHEDULE_RECHECK

    def _idle(self) -> None:
        now = timeutil.now()
        self._next_schedule_due = schedules.next_due_time()
        candidates = [queue.next_due_time(self.identity.queues), self._next_schedule_due]
        timeout = float(conf.HANDLE_TASK_IDLE_TIME)
        for due in candidates:
            if due is not None:
                timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        if self._schedule_waits:
            timeout = max(timeout, 0.05)  # a due schedule waits for its running run to end
        timeout = min(timeout, max(0.0, self.maintenance.next_run - time.monotonic()))
        if timeout > 0:
            logger.debug("idle for up to %g s", round(timeout, 3))
            self.waker.wait(timeout)
