"""What differs between databases: write transactions, locks, wake-up notices.

SQLite gets ``BEGIN IMMEDIATE`` for every write transaction of the worker (a
deferred transaction that later writes can fail at once with "database is
locked" instead of waiting), WAL mode and a busy timeout. PostgreSQL and
MySQL/MariaDB claim with ``SELECT ... FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from django.db import DatabaseError, OperationalError, connections, transaction

from .conf import conf

logger = logging.getLogger(__name__)

T = TypeVar("T")
NOTIFY_CHANNEL = "autotask"


def alias() -> str:
    return conf.DATABASE


def vendor(using: str | None = None) -> str:
    return connections[using or alias()].vendor


def storable_text(text: str) -> str:
    """``text`` as every database stores it: a NUL written out as ``\\x00`` (PostgreSQL's
    text columns refuse it) and a lone surrogate as its escape (``os.fsdecode`` makes
    them of undecodable bytes; UTF-8 can't hold them). An error message or output of a
    task that held one failed its write on every try: the task stayed RUNNING."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():  # the usual text needs no encoding to be checked
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


TRANSIENT = ("database is locked", "database table is locked", "deadlock", "lock wait timeout")


def is_transient_error(exc: BaseException) -> bool:
    """SQLite's "database is locked", and deadlocks that PostgreSQL and MySQL resolve by
    aborting one transaction: running the transaction again is the cure."""
    return isinstance(exc, OperationalError) and any(text in str(exc).lower() for text in TRANSIENT)


def configure_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On each new connection to autotask's SQLite database: WAL, so readers and
    one writer work at once, and ``synchronous`` as ``AUTOTASK_SQLITE_SYNCHRONOUS``
    says (NORMAL by default: in WAL mode it can't corrupt the database and loses no
    commit when a process crashes, only, possibly, the last commits on power loss)."""
    if connection.vendor != "sqlite" or connection.alias != alias() or connection.is_in_memory_db():
        return
    raw = connection.connection
    if raw.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        raw.execute("PRAGMA journal_mode=WAL")
    if conf.SQLITE_SYNCHRONOUS:
        raw.execute(f"PRAGMA synchronous={conf.SQLITE_SYNCHRONOUS}")


@contextmanager
def write_transaction(using: str) -> Iterator[None]:
    """A short write transaction; on SQLite it takes the write lock at the start."""
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    # Django (5.1+) begins with "BEGIN <transaction_mode>": make this one IMMEDIATE.
    connection.ensure_connection()  # sets transaction_mode from OPTIONS
    previous = connection.transaction_mode
    connection.transaction_mode = "IMMEDIATE"
    try:
        with transaction.atomic(using=using):
            connection.transaction_mode = previous
            yield
    finally:
        connection.transaction_mode = previous


def retry_locked(action: Callable[[], T], what: str, attempts: int = 50) -> T:
    """Run the transaction ``action``; after a transient lock error, wait and run it again."""
    delay = 0.01
    for attempt in range(attempts):
        try:
            return action()
        except OperationalError as exc:
            if not is_transient_error(exc) or attempt == attempts - 1:
                raise
            logger.debug("lock conflict during %s (%s), retrying in %.2fs", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    raise AssertionError("unreachable")


def reset_connection(using: str) -> None:
    """Drop a broken or stale connection; the next query opens a new one."""
    try:
        connections[using].close()
    except DatabaseError:
        pass
