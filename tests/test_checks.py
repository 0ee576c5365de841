"""Django system checks for settings, the database and migrations."""

import pytest
from django.core import checks
from django.test import override_settings

from autotask.checks import check_active, check_database, check_settings


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


def test_inactive_autotask_is_an_info_that_says_what_it_means():
    with override_settings(AUTOTASK_IS_ACTIVE=False):
        messages = check_active()
    assert ids(messages) == ["autotask.I001"]
    assert messages[0].level == checks.INFO
    assert "inactive" in messages[0].msg and "calls run at once" in messages[0].msg
    assert "AUTOTASK_IS_ACTIVE = True" in messages[0].hint
    with override_settings(AUTOTASK_IS_ACTIVE=True):
        assert check_active() == []


@pytest.mark.django_db(transaction=True)
def test_manage_py_check_shows_the_info_and_passes_at_warning_level():
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    with override_settings(AUTOTASK_IS_ACTIVE=False):
        call_command("check", "--fail-level", "WARNING", stdout=out, stderr=err)  # raises if it fails
    shown = out.getvalue() + err.getvalue()
    assert "autotask.I001" in shown and "autotask is inactive" in shown
    out, err = StringIO(), StringIO()
    call_command("check", "--fail-level", "WARNING", stdout=out, stderr=err)
    assert "autotask.I001" not in out.getvalue() + err.getvalue()
