"""One companion per host and database (``AUTOTASK_COMPANION_SCOPE = "host"``).

Every Django process of the host tries an exclusive ``flock`` on a file named
for the database (in the temporary directory); the one that holds it starts
the companion, as in process scope, and keeps it alive. The lock belongs to
the process, not to a row that could go stale: when that process ends,
however it ends, the kernel releases it, its companion reads EOF and stops,
and another Django process takes the lock (each looks every
``AUTOTASK_WORKER_MONITOR_INTERVALL`` seconds) and starts a new companion.

Wake-ups: every Django process of the host sends one datagram to a Unix
socket beside the lock after each commit that stored a task; the companion
listens on it. No listener is no error (the companion is being replaced; its
successor finds the work through the database).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import tempfile
from typing import Any

logger = logging.getLogger(__name__)


def base_path(settings_dict: dict[str, Any], vendor: str) -> str:
    """The path, less its suffix, of the lock and socket of the database ``settings_dict`` describes."""
    if vendor == "sqlite":
        identity = os.path.abspath(str(settings_dict.get("NAME")))
    else:
        identity = ":".join(str(settings_dict.get(key) or "") for key in ("HOST", "PORT", "NAME"))
    digest = hashlib.sha256(f"{vendor}:{identity}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"autotask-{os.getuid()}-{digest}")


class HostLock:
    """An exclusive lock on a file, held by this process until it ends (or ``release()``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; True if this process holds it now."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def forget(self) -> None:
        """In a forked child: the copy of the parent's descriptor is closed; the lock stays the parent's."""
        if self._fd is not None:
            os.close(self._fd)  # flock locks belong to the open file, which the parent still has
            self._fd = None


class WakeSender:
    """Sends wake-ups to the host's companion: one datagram, never blocking, never failing."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def wake(self) -> None:
        try:
            self._socket.sendto(b"w", self.path)
        except OSError:
            pass  # no companion listens now, or its queue is full (a wake-up is pending anyway)

    def close(self) -> None:
        self._socket.close()


def listen(path: str) -> socket.socket:
    """The companion's end: a datagram socket bound at ``path`` (replacing a stale one)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    return sock
