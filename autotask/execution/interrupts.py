"""Stopping a running task: a cancel, a timeout, the end of the stop grace period.

Each raises an ``Interrupt`` inside the task (``CancelRequested``,
``TimeLimitExceeded``, ``WorkerStopping``): interrupts derive from
``BaseException``, so a task's ``except Exception`` can't swallow them, and a
task that catches one anyway still ends as the interrupt says
(``Slot.stopped_by``). How it gets there depends on where the task runs:

- in a runner process (a task with a timeout): the runner is killed, whatever
  the task is doing; the slot's wait for its answer ends at once;
- in the main thread (slot 0): a signal (SIGUSR1), whose handler raises the
  interrupt, even inside a blocking call that Python retries (``time.sleep``,
  socket reads...);
- in another slot's thread: ``PyThreadState_SetAsyncExc``, raised as soon as
  the thread runs Python code again.

A task blocked in C code (which ignores signals and runs no Python code) is
not stopped by the last two. If its run is still going
``AUTOTASK_INTERRUPT_GRACE`` seconds after the interrupt, the worker gives it
up (``escalate``): the run is recorded at once as the interrupt says
(CANCELLED; ERROR or a retry for a timeout; handed back for a stop) and the
task is no longer the worker's, so a late outcome is dropped; the worker
claims nothing more, lets its other slots finish their tasks, and exits with
``EXIT_RECYCLE``, so that its supervisor starts a new process at once (the
stuck thread ends with the old one).

The loop thread does all of this (``Interrupts.check`` each turn); the
signals that stop the worker itself are read from a pipe by a thread of
their own, so that SIGTERM works even while the main thread is stuck in a task.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from .. import timeutil
from ..conf import conf
from ..exceptions import Interrupt, TimeLimitExceeded, WorkerStopping
from . import outcomes
from .child import EXIT_RECYCLE

if TYPE_CHECKING:
    from .loop import Worker
    from .slots import Slot

logger = logging.getLogger(__name__)

INTERRUPT_SIGNAL = signal.SIGUSR1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_signal_handlers(worker: Worker) -> None:
    """In the main thread: SIGTERM and SIGINT stop the worker, SIGUSR1 interrupts slot 0's task."""
    main_slot = worker.slots[0]

    def on_interrupt(signum: int, frame: Any) -> None:
        if main_slot.in_task and main_slot.signal_pending is not None:
            exc, main_slot.signal_pending = main_slot.signal_pending, None
            raise exc

    # The stop signals do their work in a thread that reads them from the wakeup fd
    # (written by the C-level handler, whatever the main thread is doing); their
    # Python handlers do nothing.
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: None)
    signal.signal(INTERRUPT_SIGNAL, on_interrupt)

    def read_signals() -> None:
        while True:
            data = os.read(read_fd, 512)
            if any(signum in STOP_SIGNALS for signum in data):
                worker.stop()

    threading.Thread(target=read_signals, name="autotask-signals", daemon=True).start()


def absorb_pending() -> None:
    """Let an interrupt sent to this thread (``PyThreadState_SetAsyncExc``) after its run
    ended come out here, and drop it: it is raised at the next backward jump."""
    try:
        for _ in range(3):
            pass
    except Interrupt:
        pass


def interrupt(slot: Slot, task_id: Any, exc: Interrupt) -> None:
    """Stop the run of ``task_id`` in ``slot`` with ``exc`` (once; nothing if it ended)."""
    with slot.lock:
        if not slot.in_task or slot.current is None or slot.current["id"] != task_id or slot.stopped_by is not None:
            return
        slot.stopped_by = exc
        if slot.in_runner:
            slot.runner.terminate()  # its answer never comes: the slot's wait ends at once
            return
        logger.info("interrupting task=%s: %s", task_id, type(exc).__name__)
        thread = slot.thread
        if thread is threading.main_thread():
            slot.signal_pending = exc
            signal.pthread_kill(thread.ident, INTERRUPT_SIGNAL)
        elif thread is not None and thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(type(exc)))
            slot.async_sent = True
        slot.escalate_at = time.monotonic() + conf.INTERRUPT_GRACE


class Interrupts:
    """The loop's watch over the time of running tasks: time limits, the stop grace, the interrupt grace."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop_at: float | None = None  # the end of the stop grace period, once stopping

    def next_due(self) -> float:
        """The monotonic time of the next thing to check (inf: nothing). A run already
        interrupted waits for its escalation time only."""
        inf = float("inf")
        times = []
        for slot in self.worker.slots:
            if not slot.in_task or slot.abandoned:
                continue
            if slot.stopped_by is not None:
                times.append(slot.escalate_at or inf)
            else:
                times += [slot.deadline or inf, self.stop_at or inf]
        return min(times, default=inf)

    def check(self) -> None:
        now = time.monotonic()
        stop_grace_over = self.stop_at is not None and now >= self.stop_at
        for slot in self.worker.slots:
            task = slot.current
            if task is None or slot.abandoned:
                continue
            if slot.escalate_at is not None and now >= slot.escalate_at:
                self.escalate(slot, task)
            elif stop_grace_over:
                interrupt(slot, task["id"], WorkerStopping("the worker is stopping"))
            elif slot.deadline is not None and now >= slot.deadline:
                interrupt(slot, task["id"], TimeLimitExceeded("timed out"))

    def escalate(self, slot: Slot, task: dict[str, Any]) -> None:
        """Give up a run that didn't stop within the interrupt grace (it is stuck in C code)."""
        worker = self.worker
        with slot.lock:
            if slot.current is not task or not slot.in_task:
                return  # it ended after all
            slot.abandoned = True
            exc = slot.stopped_by
        assert exc is not None
        logger.warning(
            "task=%s did not stop within %ss of %s: recorded as such; this worker process is replaced once "
            "its other tasks have finished", task["id"], conf.INTERRUPT_GRACE, type(exc).__name__,
        )
        task["finished_at"] = timeutil.now()
        outcome = outcomes.outcome_of(exc, task, False, exc)
        worker.unrecorded.append((task, outcome))
        worker.unreleased.extend(slot.batch[slot.position + 1:])  # what it never started
        worker.unreleased.extend(slot.take_ahead())
        slot.batch = []
        worker.drain(EXIT_RECYCLE)
