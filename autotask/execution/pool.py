"""run_autotask's supervisor: N worker processes, each started again when it ends.

The process of ``manage.py run_autotask`` is the supervisor. Django is set up
in it once; each worker process is forked from it (no set-up of its own, so a
replacement starts in milliseconds, and the pages of the loaded code stay
shared until written). The supervisor itself opens no database connection and
starts no thread, so it can fork safely at any time. It starts any worker
process that ends again (at once after a recycle, else after a back-off while
it keeps crashing, see ``child.py``), and passes SIGTERM and SIGINT on to all
of them: each lets its running tasks finish (``AUTOTASK_STOP_GRACE``) and
exits, and the supervisor exits once all have. If the supervisor itself is
killed, its worker processes read EOF on their pipes and stop the same way.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from django.db import connections

from .child import EXIT_OK, EXIT_RECYCLE, Restarts

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class Process:
    pid: int = 0
    pipe: int | None = None  # the write end of its pipe (EOF: its supervisor is gone)
    restart_at: float | None = None
    restarts: Restarts = field(default_factory=Restarts)


class Pool:
    def __init__(self, processes: int, run_worker: Callable[[int], int]) -> None:
        """``run_worker(read_fd)`` runs one worker process's worker and returns its exit code."""
        self.processes = [Process() for _ in range(processes)]
        self.run_worker = run_worker
        self.stopping = False
        self._signals = -1  # the read end of the signals' wakeup fd

    def run(self) -> int:
        # Signals are read from a pipe (the wakeup fd) by this loop: no handler does any work.
        self._signals, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd)
        for signum in (*STOP_SIGNALS, signal.SIGCHLD):
            signal.signal(signum, lambda signum, frame: None)
        connections.close_all()  # none may be shared with the forked processes
        for process in self.processes:
            self._fork(process)
        while True:
            self._reap()
            if self.stopping and not any(process.pid for process in self.processes):
                return EXIT_OK
            now = time.monotonic()
            for process in self.processes:
                if process.restart_at is not None and process.restart_at <= now and not self.stopping:
                    self._fork(process)
            pending = [p.restart_at - now for p in self.processes if p.restart_at is not None and not self.stopping]
            ready, _, _ = select.select([self._signals], [], [], max(0.0, min(pending)) if pending else None)
            if ready and any(signum in STOP_SIGNALS for signum in os.read(self._signals, 512)):
                self._stop()

    def _fork(self, process: Process) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker process: never returns into the supervisor's code
            code = 1
            try:
                os.close(write_fd)
                for other in self.processes:
                    if other.pipe is not None:
                        os.close(other.pipe)  # only the supervisor may hold them: EOF must mean it is gone
                signal.set_wakeup_fd(-1)
                os.close(self._signals)
                for signum in (*STOP_SIGNALS, signal.SIGCHLD):
                    signal.signal(signum, signal.SIG_DFL)
                code = self.run_worker(read_fd)
            except BaseException:
                logger.exception("worker process failed")
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(read_fd)
        process.pid, process.pipe, process.restart_at = pid, write_fd, None
        process.restarts.started_now()
        logger.info("worker process started pid=%s", pid)

    def _reap(self) -> None:
        for process in self.processes:
            if not process.pid:
                continue
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if not pid:
                continue
            code = os.waitstatus_to_exitcode(status)
            os.close(process.pipe)  # type: ignore[arg-type]
            process.pid, process.pipe = 0, None
            if self.stopping:
                continue
            lived = process.restarts.lived()
            backoff = process.restarts.backoff(code)
            if code == EXIT_RECYCLE:
                logger.info("worker process pid=%s replaced itself, starting a new one", pid)
            else:
                logger.warning(
                    "worker process pid=%s died exit_code=%s after %.1fs; restarting in %.0fs (failure %d in a row)",
                    pid, code, lived, backoff, process.restarts.failures,
                )
            process.restart_at = time.monotonic() + backoff

    def _stop(self) -> None:
        """Pass the stop on: every process finishes its running tasks and exits."""
        if not self.stopping:
            logger.info("stopping %d worker process(es)", sum(1 for p in self.processes if p.pid))
        self.stopping = True
        for process in self.processes:
            if process.pid:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
