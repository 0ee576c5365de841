"""Database-specific helpers: SQLite connection set-up and retries of lock conflicts."""

import pytest
from django.db import OperationalError, connection

from autotask import db

pytestmark = pytest.mark.django_db


def test_sqlite_connections_use_wal_and_synchronous_normal():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_lock_conflicts_are_retried_and_other_errors_are_not():
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database is locked")
        return "done"

    assert db.retry_locked(locked_twice, "test") == "done"
    assert len(calls) == 3

    def broken():
        raise OperationalError("no such table: x")

    with pytest.raises(OperationalError, match="no such table"):
        db.retry_locked(broken, "test")
    assert db.is_transient_error(OperationalError("(1213, 'Deadlock found when trying to get lock')"))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
@pytest.mark.django_db(transaction=True)
def test_a_worker_registers_while_another_process_writes_to_sqlite():
    """A worker process starting beside a busy one registered in a transaction that read
    first: when the other wrote meanwhile, SQLite failed its write at once ("database is
    locked", no busy wait for a stale read) and the worker began a second later. It
    registers in a write transaction from its start now."""
    import sqlite3

    from autotask.execution.loop import Worker
    from autotask.models import Worker as WorkerRow

    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=0)
    other.execute("CREATE TABLE IF NOT EXISTS other_writer (x)")
    wrote: list[str] = []

    def write_between(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("SELECT") and not wrote:
            try:  # another process's write, after this transaction's first read
                other.execute("INSERT INTO other_writer VALUES (1)")
                wrote.append("written")
            except sqlite3.OperationalError as exc:  # the worker holds the write lock already
                wrote.append(str(exc))
        return result

    worker = Worker()
    try:
        with connection.execute_wrapper(write_between):
            worker.register()
    finally:
        other.execute("DROP TABLE other_writer")
        other.close()
    assert wrote == ["database is locked"]
    assert WorkerRow.objects.filter(pk=worker.identity.id).exists()
