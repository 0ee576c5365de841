"""Start, watch and restart the companion worker of this Django process.

The companion gets the read end of a pipe whose write end only this process
holds. It reads EOF when this process ends, however it ends (kill -9
included), and exits. The same pipe carries "new work" wake-ups after each
commit that stored a task. A monitor thread checks the companion every
``AUTOTASK_WORKER_MONITOR_INTERVALL`` seconds and starts a new one if it died.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from ..conf import conf

logger = logging.getLogger(__name__)

#: Set in the companion's environment, so the companion never starts one itself.
COMPANION_ENV = "AUTOTASK_COMPANION"

#: The companion's exit codes, read by the supervisor.
EXIT_OK = 0  # stopped as asked (parent gone, signal)
EXIT_RECYCLE = 3  # replaced itself (max tasks or memory): start a new one at once

MAX_BACKOFF = 60.0


def child_environment() -> dict[str, str]:
    """The environment of a Python process that must set up this Django project:
    it imports what this process imports, wherever manage.py lives."""
    from django.conf import settings

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
    if getattr(settings, "SETTINGS_MODULE", None):
        env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    return env


class Supervisor:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._failures = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._thread = threading.Thread(target=self._monitor, name="autotask-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        env = child_environment()
        env[COMPANION_ENV] = "1"
        command = [conf.WORKER_EXECUTABLE, "-m", "autotask.execution.process", str(read_fd), str(os.getpid())]
        try:
            self.process = subprocess.Popen(command, pass_fds=(read_fd,), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(read_fd)
        old, self._wake_fd = self._wake_fd, write_fd
        if old is not None:
            os.close(old)
        logger.info("companion started pid=%s parent=%s", self.process.pid, os.getpid())

    def _monitor(self) -> None:
        started = time.monotonic()
        while not self._stopped.wait(conf.WORKER_MONITOR_INTERVALL):
            process = self.process
            if process is None or process.poll() is None:
                continue
            code = process.returncode
            lived = time.monotonic() - started
            if code == EXIT_RECYCLE:
                self._failures = 0
                logger.info("companion pid=%s replaced itself, starting a new one", process.pid)
            else:
                self._failures = self._failures + 1 if lived < 60 else 1
                backoff = min(MAX_BACKOFF, 2 ** (self._failures - 1)) if self._failures > 1 else 0
                logger.warning(
                    "companion pid=%s died exit_code=%s after %.1fs; restarting in %.0fs (failure %d in a row)",
                    process.pid, code, lived, backoff, self._failures,
                )
                if backoff and self._stopped.wait(backoff):
                    return
            with self._lock:
                if self._stopped.is_set():
                    return
                self._spawn()
            started = time.monotonic()

    def wake(self) -> None:
        fd = self._wake_fd
        if fd is None:
            return
        try:
            os.write(fd, b"w")
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or the companion is being replaced

    def stop(self) -> None:
        """Close the pipe: the companion finishes its task and exits."""
        self._stopped.set()
        with self._lock:
            if self._wake_fd is not None:
                os.close(self._wake_fd)
                self._wake_fd = None

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's companion is not ours; drop our copy of its pipe."""
        if self._wake_fd is not None:
            try:
                os.close(self._wake_fd)
            except OSError:
                pass
        self._wake_fd = None
        self.process = None
        self._stopped.set()


_supervisor: Supervisor | None = None


def wake_companion() -> None:
    """Wake this process's companion (after a commit that stored a task)."""
    if _supervisor is not None:
        _supervisor.wake()


def current() -> Supervisor | None:
    return _supervisor


def start_companion() -> Supervisor:
    global _supervisor
    if _supervisor is None:
        _supervisor = Supervisor()
        _supervisor.start()
    return _supervisor


#: Modules whose fork makes a helper process (a Pool's or a ProcessPoolExecutor's).
HELPER_FORKERS = ("multiprocessing.popen_fork", "billiard.popen_fork")


def forked_by_multiprocessing() -> bool:
    """In a child just forked: whether ``multiprocessing`` (or Celery's billiard)
    forked it, which is on the call stack of ``os.fork()`` while at-fork hooks run."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_globals.get("__name__") in HELPER_FORKERS:
            return True
        frame = frame.f_back
    return False


def _after_fork_in_child() -> None:
    # gunicorn --preload and friends fork workers after the app loaded: each
    # serving child gets its own companion, and none holds another's pipe. A
    # multiprocessing helper of a request gets none: its parent's companion (or
    # any other worker) runs what it stores.
    global _supervisor
    if _supervisor is None:
        return
    _supervisor.forget_after_fork()
    _supervisor = None
    if forked_by_multiprocessing():
        logger.debug("forked by multiprocessing pid=%s: no companion", os.getpid())
        return
    start_companion()


os.register_at_fork(after_in_child=_after_fork_in_child)
