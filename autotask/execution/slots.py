"""A worker's execution slots: each runs the tasks the loop hands it, one at a time, in its own thread.

Slot 0 runs in the process's main thread, so that with one thread (the
default) tasks run where they always did, and a signal can interrupt them
even inside a blocking call; the other slots run in threads of their own. The
loop hands a slot a batch of claimed tasks (one, or several quick ones); the
slot runs them in order and posts how they ended to the loop, which records
them: every ``QUICK_TASK`` seconds while a batch lasts, and at its end. Once a
run of a batch takes longer than that, or the batch as a whole ``BATCH_HELD`` times
as long (its size came from quicker runs), the rest of the batch goes back (``unstarted``),
for any free slot of any worker. While its tasks are quick, a
slot of several also gets its next batch ahead (``ahead``), claimed while it
runs one, so that it goes on at once; a batch ahead that waits longer than
``AHEAD_HELD`` goes back.

A task with a ``timeout`` (``AUTOTASK_TIMEOUT_MODE = "process"``) runs in the
slot's runner process (``runner.py``), started on first need and kept; any
other task runs in the slot's thread. What the loop needs to stop a run
(``interrupts.py``) is kept here, under ``lock``: the task, whether it is in
the runner, its time limit, and the interrupt that stopped it. Each slot
thread has its own database connection, closed when the thread ends.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
import time
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections

from .. import db, queue, serialization, timeutil
from ..conf import conf
from ..exceptions import Interrupt
from ..queue import Outcome, waits_before
from ..task import DONE
from . import interrupts, outcomes, run
from .runner import Runner

if TYPE_CHECKING:
    from .loop import Worker

logger = logging.getLogger(__name__)

QUICK_TASK = 0.05  # seconds: while tasks are this quick, a slot takes several at once (read at use: tests raise it)
# Seconds a batch runs before news of stored tasks makes it look for one of higher priority
# than its own next task (then the rest go back, and the claim takes that one first).
OUTRANK_AFTER = 0.005
AHEAD_HELD = 2  # times QUICK_TASK: how long a batch claimed ahead may wait for its slot
BATCH_HELD = 2  # times QUICK_TASK: how long a batch of quick runs may keep its other tasks


class Slot:
    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.runner = Runner()
        self.thread: threading.Thread | None = None
        self.tasks_done = 0
        self._inbox: queues.SimpleQueue[list[dict[str, Any]] | None] = queues.SimpleQueue()
        self._runnables: dict[str, Any] = {}  # dotted path -> what runs it, once imported
        # Written by the loop thread, and by the slot itself while busy (serving itself, or
        # going on to its batch ahead):
        self.batch: list[dict[str, Any]] = []  # what it was handed and has not reported done yet
        self.abandoned = False  # its run didn't stop within the interrupt grace: given up
        # Its next batch, claimed ahead by the loop, and until when it may wait (under ``lock``):
        self.ahead: list[dict[str, Any]] | None = None
        self.ahead_until = 0.0
        # The run in progress, shared with the loop thread under ``lock``:
        self.lock = threading.Lock()
        self.current: dict[str, Any] | None = None
        self.position = 0  # index in ``batch`` of the task it runs or ran last
        self.in_task = False
        self.in_runner = False
        self.deadline: float | None = None  # monotonic time its timeout ends
        self.began = 0.0  # monotonic time the run began
        self.stopped_by: Interrupt | None = None  # why the run was interrupted, if it was
        self.escalate_at: float | None = None  # when an interrupt that didn't take is given up on
        self.signal_pending: Interrupt | None = None  # for the main thread's signal handler
        self.async_sent = False  # an exception was sent into this thread for this run

    @property
    def busy(self) -> bool:
        return bool(self.batch)

    # -- the loop's side -------------------------------------------------------------

    def give(self, batch: list[dict[str, Any]]) -> None:
        self.batch = batch
        self._inbox.put(batch)

    def quick_so_far(self) -> bool:
        """Whether it may get a batch ahead: not given up, and not in a run that is slow already."""
        return not self.abandoned and not (self.in_task and time.monotonic() - self.began >= QUICK_TASK)

    def give_ahead(self, batch: list[dict[str, Any]]) -> None:
        """Its next batch, claimed by the loop while it runs one (``take_ahead`` takes it)."""
        with self.lock:
            self.ahead = batch
            self.ahead_until = time.monotonic() + AHEAD_HELD * QUICK_TASK

    def take_ahead(self) -> list[dict[str, Any]]:
        """Its batch ahead (and none anymore); empty if it has none."""
        with self.lock:
            batch, self.ahead = self.ahead, None
        return batch or []

    def quit(self) -> None:
        self._inbox.put(None)

    def start_thread(self) -> None:
        threading.Thread(target=self.serve, name=f"autotask-slot-{self.index}", daemon=True).start()

    def join(self, timeout: float) -> None:
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    # -- the slot's thread -----------------------------------------------------------

    def serve(self) -> None:
        """Run the batches handed to this slot until told to quit."""
        self.thread = threading.current_thread()
        try:
            while (batch := self._inbox.get()) is not None:
                self._run_batch(batch)
                if self.abandoned:
                    return
        finally:
            self.runner.close()
            connections.close_all()  # this thread's connection

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        """Run ``batch``; then, while this slot serves itself, record it and run the next."""
        ran: list[tuple[dict[str, Any], Outcome]] = []
        unstarted: list[dict[str, Any]] = []
        try:
            while True:
                ran, unstarted = self._run(batch)
                # Both empty ``ran`` once it is recorded or posted:
                batch = self._serve_itself(ran, unstarted) or self._go_ahead(ran, unstarted)
                if not batch:
                    break
        finally:
            self.worker.post(self, ran, unstarted, done=True)

    def _run(self, batch: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], Outcome]], list[dict[str, Any]]]:
        """Run the tasks of ``batch`` in order; return the runs not posted yet and the tasks it won't start."""
        worker = self.worker
        waker = worker.waker
        ran: list[tuple[dict[str, Any], Outcome]] = []
        window = begun = time.monotonic()
        next_index = 0
        try:
            for index, task in enumerate(batch):
                if worker.stopping.is_set() or self.abandoned:
                    break
                self.position, next_index = index, index + 1
                ran.append((task, self.execute(task)))
                self.tasks_done += 1
                worker.maintenance.recycle_if_needed(self)
                if time.monotonic() - window >= QUICK_TASK and index < len(batch) - 1:
                    # Quick runs are recorded together, one transaction for several; a
                    # slower one as soon as it ends.
                    worker.post(self, ran, [], done=False)
                    ran, window = [], time.monotonic()
                if worker.last_duration >= QUICK_TASK:
                    break  # not all quick: the rest go back, for any slot to take
                if time.monotonic() - begun >= BATCH_HELD * QUICK_TASK and index < len(batch) - 1:
                    # Each run quick, but more of them than fit: the claim sized the batch from
                    # quicker runs. Other slots may be free: the rest go back rather than wait here.
                    break
                if waker.news and index < len(batch) - 1 and time.monotonic() - begun >= OUTRANK_AFTER:
                    if self._outranked(batch[index + 1]):
                        break  # a task of higher priority was stored: the rest go back, it starts first
        except Interrupt:  # sent too late for its run, and not absorbed: the run ended already
            logger.warning("an interrupt came after its task ended; ignored")
        # An abandoned slot's tasks were handed back by the loop.
        return ran, [] if self.abandoned else batch[next_index:]

    def _outranked(self, task: dict[str, Any]) -> bool:
        """Whether a due task of higher priority than ``task`` was stored (one look per news)."""
        self.worker.waker.news = False
        try:
            return waits_before(task["priority"], self.worker.identity.queues)
        except DatabaseError as exc:
            logger.debug("looking for tasks of higher priority failed (%s)", exc)
            db.reset_connection(self.worker.using)
            return False

    def _serve_itself(self, ran: list[tuple[dict[str, Any], Outcome]], unstarted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A worker's only slot records its quick runs and claims its next batch itself
        (returned; empty: back to the loop, which gets ``ran`` to record).

        Why: Python runs one thread at a time, so a loop thread that records and claims
        while this one runs tasks doesn't make quick tasks go faster; handing each batch
        over between the two threads made them slower (by a third, for no-op tasks). With
        several slots the loop keeps claiming and recording for all: one writer, one
        transaction for the runs of many slots. A slow task, a stop, or a database error
        ends it: the loop takes over as usual.

        On PostgreSQL the loop records them all the same, while this slot claims and
        runs its next batch (``Worker.record_aside``): a record there is mostly a wait for
        the server, which lets the other thread run; on SQLite a record holds the one
        write lock the claim needs, so there the slot records them itself."""
        worker = self.worker
        if len(worker.slots) > 1 or not ran or worker.stopping.is_set() or self.abandoned:
            return []
        if worker.last_duration >= QUICK_TASK or (unstarted and not worker.records_aside):
            return []
        if worker.records_aside:
            # A task of higher priority waits (``unstarted``): it goes first, not after a record.
            if not worker.record_aside(self, ran, wait=not unstarted):
                return []  # stopping: they go with the slot's last report
            ran.clear()
            try:
                queue.release(worker.identity, [task["id"] for task in unstarted])
            except DatabaseError as exc:
                logger.debug("handing back in the slot failed (%s); handing over to the loop", exc)
                db.reset_connection(worker.using)
                return []
            unstarted.clear()  # handed back: not posted again
        else:
            try:
                worker.record(ran)
            except DatabaseError as exc:  # the loop records them, and recovers the connection
                logger.debug("recording in the slot failed (%s); handing over to the loop", exc)
                return []
            ran.clear()  # recorded: not posted again
        try:
            batch, _ = worker.claim_batch()
        except DatabaseError as exc:
            logger.debug("claiming in the slot failed (%s); handing over to the loop", exc)
            db.reset_connection(worker.using)
            return []
        if batch:
            self.batch = batch  # the loop reads it (an abandoned slot's unstarted tasks)
        return batch

    def _go_ahead(self, ran: list[tuple[dict[str, Any], Outcome]], unstarted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch the loop claimed ahead for this slot, to run now (``ran`` posted);
        empty if there is none, or if it goes back with ``unstarted`` (a stop, a slow run,
        a task of higher priority: the loop claims anew)."""
        batch = self.take_ahead()
        if not batch:
            return []
        if unstarted or self.worker.stopping.is_set() or self.abandoned:
            unstarted.extend(batch)
            return []
        self.batch = batch  # the loop reads it (an abandoned slot's unstarted tasks)
        self.worker.post(self, list(ran), [], done=False)
        ran.clear()
        return batch

    def execute(self, task: dict[str, Any]) -> Outcome:
        """Run one claimed task in this slot; never raises."""
        started = time.monotonic()
        try:
            outcome = run.execute(task, self._call, self._runnables)
        except Interrupt as exc:  # came out after the call, too late to be absorbed: it still decides
            self._leave()
            task.setdefault("finished_at", timeutil.now())
            outcome = outcomes.outcome_of(exc, task, False, self.stopped_by or exc)
        self.worker.last_duration = time.monotonic() - started
        self._leave_connection_clean()
        return outcome

    def _call(self, runnable: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
        timeout = task["timeout"]
        in_runner = bool(timeout) and conf.TIMEOUT_MODE == "process"
        self.stopped_by = None  # not in a run: no interrupt is sent now
        try:
            if in_runner:
                self.runner.start()  # outside the timeout: Django's set-up is not the task's time
            self._enter(task, in_runner, timeout)
            try:
                if in_runner:
                    answer = self.runner.run(task)
                else:  # the same answer as the runner's; a failure raises here
                    answer = {"result": serialization.dumps(runnable.run(args, kwargs), "the result")}
            finally:
                self._leave()
        except BaseException as exc:  # a task's failure, even SystemExit, is the task's
            self._leave()  # again: an interrupt may have come out inside the first
            stopped_by = self.stopped_by
            if isinstance(exc, KeyboardInterrupt) and stopped_by is None:
                self.worker.stop()
            return outcomes.outcome_of(exc, task, in_runner, stopped_by)
        if self.stopped_by is not None:  # the task caught its interrupt and went on: it ends as the interrupt says
            return outcomes.outcome_of(self.stopped_by, task, in_runner, self.stopped_by)
        if "error" in answer:  # from the runner, which applied the retry policy
            return outcomes.failed(
                task, answer["error"], answer["class"], answer["traceback"],
                retryable=answer["retryable"], requested_delay=answer["retry_delay"],
            )
        return Outcome(DONE, result=answer["result"])

    def _enter(self, task: dict[str, Any], in_runner: bool, timeout: float | None) -> None:
        with self.lock:
            self.current = task
            self.in_runner = in_runner
            self.stopped_by = self.signal_pending = None
            self.async_sent = False
            self.escalate_at = None
            self.began = time.monotonic()
            self.deadline = self.began + timeout if timeout else None
            self.in_task = True
        if timeout:
            self.worker.waker.wake()  # the loop's wait ends at this deadline

    def _leave(self) -> None:
        """Leave the run: after this no interrupt is sent for it. One sent into this
        thread just before may still be pending: it comes out here, and is dropped."""
        with self.lock:
            self.in_task = False
            self.current = None
            self.deadline = self.escalate_at = None
            sent, self.async_sent = self.async_sent, False
        if sent:
            interrupts.absorb_pending()  # sent too late for its run

    def _leave_connection_clean(self) -> None:
        """A task that left a transaction open must not harm the next. (A broken
        connection needs no ping here: the next query reconnects.) Nor may an
        interrupt that came in the middle of a query: the connection's state is then
        unknown (MySQL answers every later statement "Commands out of sync", and the
        outcome could not be recorded: the task stayed RUNNING)."""
        connection = connections[self.worker.using]
        if connection.in_atomic_block or connection.needs_rollback or self.stopped_by is not None:
            if self.stopped_by is None:
                logger.warning("a task left the database connection unusable; reconnecting")
            db.reset_connection(self.worker.using)
