"""Stopping a running task: a cancel, a timeout, the end of the stop grace period.

Each raises an ``Interrupt`` inside the task (``CancelRequested``,
``TimeLimitExceeded``, ``WorkerStopping``): ``BaseException``\\ s, which a
task's ``except Exception`` can't swallow; a task that catches one anyway
still ends as the interrupt says (``Slot.stopped_by``). The task runs in the
main thread, which a signal interrupts: SIGUSR1 for a cancel or a stop,
SIGALRM for a timeout. A task with a timeout runs in its slot's runner
process: the exception raised in the worker's wait for its answer kills the
runner, whatever the task is doing. Either way the worker itself is never
what gets killed.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from ..exceptions import Interrupt, TimeLimitExceeded

if TYPE_CHECKING:
    from .loop import Worker
    from .slots import Slot

INTERRUPT_SIGNAL = signal.SIGUSR1


def install_signal_handlers(worker: Worker) -> None:
    slot = worker.slot

    def on_interrupt(signum: int, frame: Any) -> None:
        if slot.in_task and slot.interrupt is not None:
            exc, slot.interrupt = slot.interrupt, None
            raise exc

    def on_timeout(signum: int, frame: Any) -> None:
        if slot.in_task:
            slot.stopped_by = TimeLimitExceeded("timed out")
            raise slot.stopped_by

    signal.signal(signal.SIGTERM, lambda signum, frame: worker.stop())
    signal.signal(signal.SIGINT, lambda signum, frame: worker.stop())
    signal.signal(INTERRUPT_SIGNAL, on_interrupt)
    signal.signal(signal.SIGALRM, on_timeout)


def interrupt_task(slot: Slot, exc: Interrupt) -> None:
    """Raise ``exc`` inside the task running in ``slot`` (if one still runs)."""
    if slot.current is None or not slot.in_task:
        return
    slot.interrupt = slot.stopped_by = exc
    signal.pthread_kill(threading.main_thread().ident, INTERRUPT_SIGNAL)
