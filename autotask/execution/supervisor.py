"""Start, watch and restart the companion worker of this Django process (or of this host).

The companion gets the read end of a pipe whose write end only this process
holds. It reads EOF when this process ends, however it ends
(kill -9 included), and exits. The same pipe carries "new work" wake-ups
after each commit that stored a task. A monitor thread checks the companion every
``AUTOTASK_WORKER_MONITOR_INTERVALL`` seconds and starts a new one if it died.
With ``AUTOTASK_COMPANION_SCOPE = "host"``, only the Django process that holds
the host's lock does so, and wake-ups go through a socket (``hostscope.py``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from ..conf import conf
from . import hostscope
from .child import EXIT_RECYCLE, Restarts
from .hostscope import HostLock, WakeSender

logger = logging.getLogger(__name__)

#: Set in the companion's environment, so the companion never starts one itself.
COMPANION_ENV = "AUTOTASK_COMPANION"


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
    """The companion of this process (process scope), or of this host (host scope, if this
    process holds the host's lock; otherwise it waits to take the lock over)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.lock: HostLock | None = None
        self._sender: WakeSender | None = None
        self._socket_path: str | None = None
        if conf.COMPANION_SCOPE == "host":
            from django.db import connections

            connection = connections[conf.DATABASE]
            base = hostscope.base_path(connection.settings_dict, connection.vendor)
            self.lock = HostLock(base + ".lock")
            self._socket_path = base + ".sock"
            self._sender = WakeSender(self._socket_path)
        self._wake_fd: int | None = None
        self._restarts = Restarts()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self.lock is None or self.lock.acquire():
                self._spawn()
        self._thread = threading.Thread(target=self._monitor, name="autotask-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        env = child_environment()
        env[COMPANION_ENV] = "1"
        command = [conf.WORKER_EXECUTABLE, "-m", "autotask.execution.process", str(read_fd), str(os.getpid())]
        if self._socket_path:
            command += ["--wake-socket", self._socket_path]
        try:
            self.process = subprocess.Popen(command, pass_fds=(read_fd,), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(read_fd)
        old, self._wake_fd = self._wake_fd, write_fd
        if old is not None:
            os.close(old)
        self._restarts.started_now()
        logger.info("companion started pid=%s parent=%s scope=%s", self.process.pid, os.getpid(), conf.COMPANION_SCOPE)

    def _monitor(self) -> None:
        while not self._stopped.wait(conf.WORKER_MONITOR_INTERVALL):
            if self.lock is not None and not self.lock.held:
                with self._lock:  # the host's companion: ours now, if its process is gone
                    if not self._stopped.is_set() and self.lock.acquire():
                        logger.info("this process took over the host's companion")
                        self._spawn()
                continue
            process = self.process
            if process is None or process.poll() is None:
                continue
            lived = self._restarts.lived()
            backoff = self._restarts.backoff(process.returncode)
            if process.returncode == EXIT_RECYCLE:
                logger.info("companion pid=%s replaced itself, starting a new one", process.pid)
            else:
                logger.warning(
                    "companion pid=%s died exit_code=%s after %.1fs; restarting in %.0fs (failure %d in a row)",
                    process.pid, process.returncode, lived, backoff, self._restarts.failures,
                )
                if backoff and self._stopped.wait(backoff):
                    return
            with self._lock:
                if self._stopped.is_set():
                    return
                self._spawn()

    def wake(self) -> None:
        if self._sender is not None:  # the host's companion, whichever process started it
            self._sender.wake()
            return
        fd = self._wake_fd
        if fd is None:
            return
        try:
            os.write(fd, b"w")
        except OSError:
            pass  # the pipe is full (a wake-up is pending anyway) or the companion is being replaced

    def stop(self) -> None:
        """Close the pipe: the companion finishes its tasks and exits."""
        self._stopped.set()
        with self._lock:
            if self._wake_fd is not None:
                os.close(self._wake_fd)
                self._wake_fd = None

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's companion (and host lock) are not ours; drop our copies."""
        if self._wake_fd is not None:
            try:
                os.close(self._wake_fd)
            except OSError:
                pass
        self._wake_fd = None
        if self.lock is not None:
            self.lock.forget()
        if self._sender is not None:
            self._sender.close()
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
