"""How an idle worker learns that there is new work, without waiting out its idle sleep.

- The companion's parent writes to a pipe after each commit that stored a task
  (a host's companion: every Django process of the host, to a socket).
- On PostgreSQL every worker LISTENs; the INSERT of each enqueue also notifies (delivered at commit).
- On SQLite, ``PRAGMA data_version`` changes when another connection commits:
  a check that reads no table, made every ``POLL_INTERVAL`` (10 ms by default).
- On MySQL/MariaDB a short poll of the due-task index (the earliest due time).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Callable, Sequence

from django.db import DatabaseError, connections

from .. import db
from ..conf import conf

logger = logging.getLogger(__name__)

DEFAULT_POLL = {"sqlite": 0.01, "mysql": 0.1}


class Waker:
    def __init__(
        self, using: str, on_parent_gone: Callable[[], None] | None = None, queues: Sequence[str] = ()
    ) -> None:
        self.using = using
        self.queues = tuple(queues)
        self.event = threading.Event()
        self.vendor = connections[using].vendor
        self.on_parent_gone = on_parent_gone
        self._closed = threading.Event()
        self._data_version: int | None = None
        self._next_due: object = None
        self._listen_thread: threading.Thread | None = None
        # New tasks were stored since a slot last looked (PostgreSQL's notifications, the
        # companion's pipe or socket): a running batch of quick tasks checks whether one of
        # them must start first (``Slot._run``). Set here, cleared by the slot.
        self.news = False

    # -- sources ---------------------------------------------------------------

    def watch_parent(self, fd: int) -> None:
        """Wake on every byte from the parent; EOF means the parent is gone."""

        def read() -> None:
            while True:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    logger.info("parent process is gone, stopping")
                    if self.on_parent_gone:
                        self.on_parent_gone()
                    self.wake()
                    return
                self.new_work()

        threading.Thread(target=read, name="autotask-parent-pipe", daemon=True).start()

    def watch_socket(self, path: str) -> None:
        """Wake on every datagram to the host companion's socket (``hostscope.py``)."""
        from .hostscope import listen

        sock = listen(path)

        def read() -> None:
            while not self._closed.is_set():
                try:
                    sock.recv(64)
                except OSError:
                    return
                self.new_work()

        threading.Thread(target=read, name="autotask-wake-socket", daemon=True).start()

    def start(self) -> None:
        if self.vendor == "postgresql":
            self._listen_thread = threading.Thread(target=self._listen, name="autotask-listen", daemon=True)
            self._listen_thread.start()

    def _listen(self) -> None:
        while not self._closed.is_set():
            raw = None
            try:
                wrapper = connections[self.using]
                raw = wrapper.get_new_connection(wrapper.get_connection_params())
                raw.autocommit = True
                raw.cursor().execute("LISTEN " + db.NOTIFY_CHANNEL)
                self.wake()  # anything stored while we were not listening
                while not self._closed.is_set():
                    ready, _, _ = select.select([raw.fileno()], [], [], 1.0)
                    if ready and self._drain(raw):
                        self.new_work()
            except Exception as exc:  # the database restarted, or is unreachable
                logger.warning("LISTEN connection failed (%s); polling until it is back", exc)
                self._closed.wait(1.0)
            finally:
                if raw is not None:
                    try:
                        raw.close()
                    except Exception:
                        pass

    @staticmethod
    def _drain(raw) -> bool:
        if hasattr(raw, "poll"):  # psycopg2
            raw.poll()
            got = bool(raw.notifies)
            raw.notifies.clear()
            return got
        got = False
        for _ in raw.notifies(timeout=0):  # psycopg 3
            got = True
        return got

    # -- waiting ---------------------------------------------------------------

    def wake(self) -> None:
        self.event.set()

    def new_work(self) -> None:
        self.news = True
        self.event.set()

    def close(self) -> None:
        self._closed.set()
        self.wake()

    @property
    def poll_interval(self) -> float | None:
        if self.vendor == "postgresql" and self._listen_thread is not None:
            return None
        return conf.POLL_INTERVAL or DEFAULT_POLL.get(self.vendor, 0.1)

    def wait(self, timeout: float, poll: bool = True) -> bool:
        """Sleep up to ``timeout`` seconds; return True early if there may be new work
        (or someone called ``wake()``). ``poll=False``: no look at the database meanwhile."""
        deadline = time.monotonic() + timeout
        interval = self.poll_interval if poll else None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.event.wait(remaining if interval is None else min(interval, remaining)):
                self.event.clear()
                return True
            if interval is not None and self._something_changed():
                return True

    def _something_changed(self) -> bool:
        try:
            if self.vendor == "sqlite":
                connection = connections[self.using]
                connection.ensure_connection()
                version = connection.connection.execute("PRAGMA data_version").fetchone()[0]
                # The first reading counts as a change: work stored before it would
                # otherwise wait for the next commit of another connection.
                changed = self._data_version is None or version != self._data_version
                self._data_version = version
                return changed
            # MySQL/MariaDB (and any other database): has the earliest due time
            # changed? One lookup in the due-task index.
            from .. import queue

            due = queue.next_due_time(self.queues)
            changed = due != self._next_due
            self._next_due = due
            return changed
        except DatabaseError:
            return True  # let the worker loop find out and recover
