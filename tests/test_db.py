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
