"""The worker loop of one process: claim, hand to slots, record. Nothing a task
does, no bad row and no lost connection ends the loop; only a stop request does.

A worker process runs ``threads`` tasks at once, one per slot (``slots.py``):
slot 0 in the main thread, the others in threads of their own. The loop runs
in a thread of its own, on one database connection: it claims tasks only for
free slots (each free slot gets one claim: one task, or a batch of quick
ones; highest priority first; while tasks are quick, each busy slot's next
batch too, ahead), records the outcomes the slots post, keeps the
worker's lease and watches for cancel requests (``heartbeat.py``), enforces
time limits and the stop grace (``interrupts.py``), and recovers lost
workers' tasks (``maintenance.py``). It waits for new work (``wakeup.py``)
only while a slot is free; otherwise for a slot to post. Connections per
process: one per slot thread, the loop's, and PostgreSQL's LISTEN: threads + 2.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
import time
from typing import Any, Sequence

from django.db import DatabaseError, ProgrammingError, connections
from django.utils.module_loading import autodiscover_modules

from .. import db, queue, schedules, stats, timeutil
from ..conf import conf
from ..options import check_queue_name
from ..queue import Outcome, WorkerIdentity
from . import interrupts, outcomes, slots
from .child import EXIT_OK
from .heartbeat import Heartbeat
from .interrupts import Interrupts
from .maintenance import Maintenance
from .slots import Slot
from .wakeup import Waker

logger = logging.getLogger(__name__)

SCHEDULE_RECHECK = 1.0  # seconds between looks at the schedules while none is due


class Worker:
    def __init__(
        self, *, companion: bool = False, parent_fd: int | None = None, queues: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.using = db.alias()
        if queues is None:
            queues = (conf.QUEUES or ()) if companion else ()
        for queue_name in queues:
            check_queue_name(queue_name)
        threads = conf.WORKER_THREADS if threads is None else threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"a worker needs 1 or more threads, got {threads!r}")
        self.identity = WorkerIdentity.new(queues)
        self.companion = companion
        self.stopping = threading.Event()  # claim nothing new
        self.exit_code = EXIT_OK
        self.waker = Waker(self.using, on_parent_gone=self.stop, queues=self.identity.queues)
        self.parent_fd = parent_fd
        self.slots = [Slot(self, index) for index in range(threads)]
        self.interrupts = Interrupts(self)
        self.heartbeat = Heartbeat(self)
        self.maintenance = Maintenance(self)
        self.last_duration = 1.0  # of the last run in any slot
        self.unrecorded: list[tuple[dict[str, Any], Outcome]] = []  # the loop's, until written
        self.unreleased: list[dict[str, Any]] = []  # claimed, never started: the loop's, until handed back
        self._posts: list[tuple[Slot, list[tuple[dict[str, Any], Outcome]], list[dict[str, Any]], bool]] = []
        self._posts_lock = threading.Lock()
        # A lone slot's quick runs that the loop records while the slot goes on (on PostgreSQL):
        # batches posted and not yet recorded, at most one (``record_aside``).
        self.records_aside = len(self.slots) == 1 and db.vendor(self.using) == "postgresql"
        self._aside = threading.Condition(self._posts_lock)
        self._aside_posted = 0  # by the slot
        self._aside_taken = 0  # of those, taken into ``unrecorded``
        self._look = True  # there may be work for a free slot
        self._registered = False
        self._schedule_waits = False
        self._next_schedule_due: dt.datetime | None = None
        self._schedules_recheck_at = 0.0

    @property
    def tasks_done(self) -> int:
        return sum(slot.tasks_done for slot in self.slots)

    # -- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        """Claim nothing new; let the running tasks finish within ``AUTOTASK_STOP_GRACE``."""
        if self.interrupts.stop_at is not None:
            return
        self.interrupts.stop_at = time.monotonic() + conf.STOP_GRACE
        running = sum(slot.in_task for slot in self.slots)
        if running:
            logger.info("stopping after the running tasks count=%s (grace %ss)", running, conf.STOP_GRACE)
        self.stopping.set()
        self.waker.wake()

    def drain(self, exit_code: int) -> None:
        """Claim nothing new, and exit with ``exit_code`` once the running tasks have finished."""
        if self.interrupts.stop_at is None:  # a stop asked for already decides the exit code
            self.exit_code = exit_code
        self.stopping.set()
        self.waker.wake()

    def post(self, slot: Slot, ran: list[tuple[dict[str, Any], Outcome]], unstarted: list[dict[str, Any]], done: bool) -> None:
        """A slot's report (from its thread): runs that ended, tasks it won't start, whether it is free."""
        with self._posts_lock:
            self._posts.append((slot, ran, unstarted, done))
        self.waker.wake()

    def record_aside(self, slot: Slot, ran: list[tuple[dict[str, Any], Outcome]], wait: bool = True) -> bool:
        """Post a lone slot's quick runs for the loop to record while the slot goes on with its
        next batch, once the batch posted before is recorded (``wait``; else at once, for a task
        of higher priority): at most one batch of runs, or two, is done and unrecorded. False
        if the worker is stopping (then nothing was posted)."""
        with self._aside:
            while wait and self._aside_posted and not self.stopping.is_set():
                self._aside.wait(1.0)
            if self.stopping.is_set():
                return False
            self._aside_posted += 1
            self._posts.append((slot, list(ran), [], False))
        self.waker.wake()
        return True

    def run(self) -> int:
        """Run until stopped (in the main thread); return the exit code for the supervisor."""
        interrupts.install_signal_handlers(self)
        if self.parent_fd is not None:
            self.waker.watch_parent(self.parent_fd)
        logger.info(
            "worker started worker=%s companion=%s queues=%s threads=%s",
            self.identity.label, self.companion, ",".join(self.identity.queues) or "all", len(self.slots),
        )
        autodiscover_modules("tasks")  # registers the schedules of every app's tasks.py (in the main thread)
        loop = threading.Thread(target=self._loop, name="autotask-loop", daemon=True)
        loop.start()
        for slot in self.slots[1:]:
            slot.start_thread()
        self.slots[0].serve()  # slot 0's tasks run in the main thread
        loop.join()
        return self.exit_code

    def _loop(self) -> None:
        try:
            if self._start_up():
                self.waker.start()
                while not (self.stopping.is_set() and not any(s.busy for s in self.slots if not s.abandoned)):
                    self._turn()
                self._settle()
        finally:
            self.stopping.set()
            for slot in self.slots:
                slot.quit()
            for slot in self.slots[1:]:
                if not slot.abandoned:
                    slot.join(timeout=5)
            self.waker.close()
            stats.flush(self.identity.id)  # the dashboard's run figures (autotask.stats)
            self._unregister()
            connections.close_all()
            logger.info("worker stopped worker=%s tasks_done=%s", self.identity.label, self.tasks_done)
            if any(slot.abandoned for slot in self.slots):
                # A thread is stuck in a task that was given up: it ends with the process.
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(self.exit_code)

    def _turn(self) -> None:
        """One turn of the loop; a database error is logged and waited out, never raised."""
        try:
            self._take_posts()
            self.interrupts.check()
            self.heartbeat.run()
            self.maintenance.run()
            released = self._release_unstarted()  # first: they keep their place in line for the claim
            handed = self._hand_out() if not self.stopping.is_set() else 0
            wrote = self._settle()
            if not (released or handed or wrote):
                self._wait()
        except DatabaseError as exc:
            logger.warning("database error in worker loop (%s); reconnecting", exc, exc_info=True)
            db.reset_connection(self.using)
            self.stopping.wait(1.0)
        except Exception:
            logger.exception("unexpected error in worker loop")
            self.stopping.wait(1.0)

    def _start_up(self) -> bool:
        """Register this worker and store the schedules, waiting out database trouble."""
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
                    logger.info("autotask's tables exist now; starting")
                return True
            except (ProgrammingError, DatabaseError) as exc:
                if not warned:
                    logger.warning("autotask's tables are missing (%s): run 'python manage.py migrate'; waiting", exc)
                    warned = True
                db.reset_connection(self.using)
                self.stopping.wait(5.0)
        return False

    def register(self) -> None:
        queue.register_worker(self.identity, companion=self.companion)
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

    def _take_posts(self) -> None:
        """What the slots posted: runs to record, tasks to hand back, slots now free."""
        with self._posts_lock:
            posts, self._posts = self._posts, []
            self._aside_taken = self._aside_posted
        for slot, ran, unstarted, done in posts:
            self.unrecorded.extend(ran)
            self.unreleased.extend(unstarted)
            if done and not slot.abandoned:
                ahead = slot.take_ahead()  # claimed as it ended its batch
                if ahead and not self.stopping.is_set():
                    slot.give(ahead)
                else:
                    self.unreleased.extend(ahead)
                    slot.batch = []
                self._look = True  # a slot is free: look for work at once
            elif len(self.slots) > 1 and slot.ahead is None:
                self._look = True  # it may have gone on to its batch ahead: claim its next

    def _hand_out(self) -> int:
        """Claim for each free slot (one claim each, so that recovery can tell their
        tasks apart) and hand it what it got; then, while tasks are quick, the next batch
        of each busy slot of several that has none ahead. Return how many tasks were handed out."""
        if not self._look:
            return 0
        wanting = [slot for slot in self.slots if not slot.busy and not slot.abandoned]
        if len(self.slots) > 1 and self._claim_size() > 1:
            wanting += [slot for slot in self.slots if slot.busy and slot.ahead is None and slot.quick_so_far()]
        handed = 0
        for slot in wanting:
            batch, full = self.claim_batch()
            if slot.busy and len(batch) == 1:
                # Recovery (``queue.maintain``) takes a lost worker's claim of one task for a
                # run that had started: a task claimed ahead comes with others, or goes back.
                self.unreleased.extend(batch)
            elif batch:
                slot.give_ahead(batch) if slot.busy else slot.give(batch)
                handed += len(batch)
            if not full:
                self._look = False  # nothing more is due: wait for news
                break
        return handed

    def claim_batch(self) -> tuple[list[dict[str, Any]], bool]:
        """Claim the next batch for one slot: the schedules' due runs are stored first, then
        as many tasks as the last run's time says fit in QUICK_TASK seconds (quick tasks come
        in batches, and no batch holds tasks long from other workers). Also ``full``: whether
        it got all it asked for (if not, nothing more is due now). The loop calls this for a
        free slot; a worker's only slot calls it itself while it serves itself (``slots.py``):
        never both at once."""
        self._claim_schedules(timeutil.now())
        size = self._claim_size()
        batch = queue.claim(self.identity, size)
        return batch, len(batch) == size

    def _claim_size(self) -> int:
        return max(1, min(conf.CLAIM_BATCH, int(slots.QUICK_TASK / max(self.last_duration, 1e-6))))

    def record(self, ran: list[tuple[dict[str, Any], Outcome]]) -> None:
        """Write how ``ran``'s runs ended (the loop's, or a lone slot's that serves itself)."""
        if outcomes.record(self.identity, self.using, ran):
            self._look = True  # tasks waiting for these became due

    def _take_back_ahead(self) -> None:
        """A batch claimed ahead whose slot hasn't come to it in time (a slow run) goes back."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.ahead is not None and now >= slot.ahead_until:
                self.unreleased.extend(slot.take_ahead())

    def _release_unstarted(self) -> bool:
        """Hand back what the slots won't start (the rest of a batch that met a slow task,
        a batch ahead that waited too long); True if there was any."""
        self._take_back_ahead()
        if not self.unreleased:
            return False
        queue.release(self.identity, [task["id"] for task in self.unreleased])
        self.unreleased = []
        return True

    def _settle(self) -> bool:
        """Write the outcomes the slots posted and hand back what they won't start; True if anything was written."""
        wrote = self._release_unstarted() or bool(self.unrecorded)
        if self.unrecorded:
            ran, self.unrecorded = self.unrecorded, []
            try:
                self.record(ran)
            except BaseException:
                self.unrecorded[:0] = ran
                raise
            if self._aside_taken:
                with self._aside:
                    self._aside_posted -= self._aside_taken
                    self._aside_taken = 0
                    self._aside.notify_all()
        return wrote

    def _claim_schedules(self, now: dt.datetime) -> None:
        """Look at the schedules when one is due, and at least every SCHEDULE_RECHECK
        seconds (another worker may have stored one due sooner): not on every turn."""
        due = self._next_schedule_due
        if time.monotonic() < self._schedules_recheck_at and not self._schedule_waits and (due is None or due > now):
            return
        _, self._schedule_waits = schedules.claim_due(now)
        self._next_schedule_due = schedules.next_due_time()
        self._schedules_recheck_at = time.monotonic() + SCHEDULE_RECHECK

    def _wait(self) -> None:
        """Until there may be work for a free slot, a slot posts, or something is due."""
        now = time.monotonic()
        due = min(
            self.interrupts.next_due(), self.heartbeat.next_due(), self.maintenance.next_run,
            *(slot.ahead_until for slot in self.slots if slot.ahead is not None),
        )
        bound = max(0.0, due - now)
        if self.stopping.is_set() or all(slot.busy or slot.abandoned for slot in self.slots):
            self.waker.wait(bound, poll=False)
            return
        idle = self._idle_timeout()
        if idle > 0:
            logger.debug("idle for up to %g s", round(min(idle, bound), 3))
        woken = self.waker.wait(min(idle, bound)) if min(idle, bound) > 0 else False
        self._look = woken or idle <= bound

    def _idle_timeout(self) -> float:
        """Seconds until the next delayed task or schedule is due (at most the idle time)."""
        now = timeutil.now()
        self._next_schedule_due = schedules.next_due_time()
        candidates = [queue.next_due_time(self.identity.queues), self._next_schedule_due]
        timeout = float(conf.HANDLE_TASK_IDLE_TIME)
        for due in candidates:
            if due is not None:
                timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        if self._schedule_waits:
            timeout = max(timeout, 0.05)  # a due schedule waits for its running run to end
        return timeout
