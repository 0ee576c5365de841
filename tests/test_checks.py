"""Django system checks for settings, the database and migrations."""

import pytest
from django.core import checks
from django.test import override_settings

from autotask.checks import check_database, check_settings


def ids(messages):
    return [m.id for m in messages]


def test_default_settings_pass():
    assert check_settings() == []


@pytest.mark.parametrize(
    "name, value",
    [
        ("AUTOTASK_IS_ACTIVE", "yes"),
        ("AUTOTASK_RETRY_DELAY", "2"),
        ("AUTOTASK_HANDLE_TASK_IDLE_TIME", -1),
        ("AUTOTASK_WORKER_AUTOSTART", 1),
        ("AUTOTASK_CLAIM_BATCH", True),
        ("AUTOTASK_SQLITE_SYNCHRONOUS", "SOMETIMES"),
    ],
)
def test_wrong_setting_values_are_errors(name, value):
    with override_settings(**{name: value}):
        messages = check_settings()
    assert ids(messages) == ["autotask.E001"]
    assert name in messages[0].msg


def test_none_is_allowed_where_documented():
    with override_settings(AUTOTASK_SQLITE_SYNCHRONOUS=None, AUTOTASK_WORKER_MAX_TASKS=None):
        assert check_settings() == []


def test_unknown_database_alias():
    with override_settings(AUTOTASK_DATABASE="nope"):
        assert "autotask.E002" in ids(check_settings())


def test_in_memory_sqlite_with_autotask_active_is_an_error():
    from unittest import mock

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("an SQLite setting")
    with mock.patch.object(connection, "is_in_memory_db", return_value=True):
        messages = check_database()
    assert ids(messages) == ["autotask.E003"]
    assert "in-memory" in messages[0].msg


@pytest.mark.django_db(transaction=True)
def test_missing_tables_are_a_warning_not_a_crash():
    from django.db import connection

    from autotask.models import Worker

    assert check_database() == []
    with connection.schema_editor() as editor:
        editor.delete_model(Worker)
    try:
        messages = check_database()
        assert ids(messages) == ["autotask.W001"]
        assert "autotask_worker" in messages[0].msg
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(Worker)


def test_checks_are_registered():
    assert check_settings in checks.registry.registry.get_checks()
