"""Django system checks for autotask's settings, database and migrations."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.checks import Error, Info, Warning, register
from django.db import DatabaseError, connections

from .command import running_command
from .conf import SETTINGS, conf, stores_calls

# Commands that create the tables, or run before them: no warning there.
MIGRATION_COMMANDS = {"migrate", "makemigrations", "sqlmigrate", "showmigrations", "test", "flush"}


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    for name, spec in SETTINGS.items():
        full = "AUTOTASK_" + name
        if not hasattr(settings, full):
            continue
        value = getattr(settings, full)
        if value is None and spec.nullable:
            continue
        wrong_type = not isinstance(value, spec.types) or (isinstance(value, bool) and bool not in spec.types)
        if wrong_type:
            expected = " or ".join(t.__name__ for t in spec.types)
            errors.append(Error(f"{full} must be {expected}, not {value!r}", hint=spec.doc, id="autotask.E001"))
        elif spec.choices and value not in spec.choices:
            errors.append(Error(f"{full} must be one of {', '.join(spec.choices)}, not {value!r}", id="autotask.E001"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            errors.append(Error(f"{full} must be 0 or more, not {value!r}", hint=spec.doc, id="autotask.E001"))
    level = conf.OUTPUT_LOG_LEVEL
    if isinstance(level, str) and not isinstance(logging.getLevelName(level.upper()), int):
        errors.append(Error(
            f"AUTOTASK_OUTPUT_LOG_LEVEL must be a logging level, not {level!r}",
            hint="'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL' or a number", id="autotask.E001",
        ))
    if conf.DATABASE not in settings.DATABASES:
        errors.append(Error(f"AUTOTASK_DATABASE names {conf.DATABASE!r}, which is not in DATABASES", id="autotask.E002"))
    return errors


@register()
def check_active(app_configs: Any = None, **kwargs: Any) -> list:
    """An Info (shown by ``check``, never failing it): autotask is installed but does nothing."""
    if stores_calls():
        return []
    return [
        Info(
            "autotask is inactive (AUTOTASK_IS_ACTIVE is not set to True): task decorators return the plain "
            "functions, calls run at once in the calling process and return plain values, no worker starts "
            "and periodic and cron tasks never run",
            hint="Set AUTOTASK_IS_ACTIVE = True to store calls and run them in workers, or, in tests, "
            "AUTOTASK_EAGER = True to run them at once and get handles; "
            "add 'autotask.I001' to SILENCED_SYSTEM_CHECKS if inactive is what you want.",
            id="autotask.I001",
        )
    ]


@register(deploy=True)
def check_eager_in_deployment(app_configs: Any = None, **kwargs: Any) -> list:
    """``check --deploy``: eager mode is for tests; left on, every request runs its tasks itself."""
    if not conf.EAGER:
        return []
    return [
        Warning(
            "AUTOTASK_EAGER is True: every task call runs at once in the process that makes it "
            "(a request waits for its tasks), no worker starts and schedules never run",
            hint="Eager mode is for tests: set AUTOTASK_EAGER = True in the test settings only.",
            id="autotask.W002",
        )
    ]


@register()
def check_database(app_configs: Any = None, **kwargs: Any) -> list:
    if not stores_calls() or conf.DATABASE not in settings.DATABASES:
        return []
    connection = connections[conf.DATABASE]
    messages = []
    # Eager mode runs every call in the process that makes it: an in-memory database will do.
    if connection.vendor == "sqlite" and connection.is_in_memory_db() and not conf.EAGER:
        messages.append(
            Error(
                "autotask needs a database that worker processes can share; an in-memory SQLite database can't be",
                hint="Use a file for the SQLite database NAME; in tests, AUTOTASK_EAGER = True (no worker) "
                "or AUTOTASK_IS_ACTIVE = False will do with this one.",
                id="autotask.E003",
            )
        )
        return messages
    try:
        tables = connection.introspection.table_names()
    except DatabaseError:
        return messages  # the database is not reachable now; Django reports that itself
    finally:
        if not connection.in_atomic_block:
            connection.close()
    missing = {"autotask_task", "autotask_schedule", "autotask_worker", "autotask_minutestats"} - set(tables)
    if missing and running_command() not in MIGRATION_COMMANDS:
        messages.append(
            Warning(
                f"autotask's tables are missing ({', '.join(sorted(missing))}): workers wait until they exist",
                hint="Run 'python manage.py migrate'.",
                id="autotask.W001",
            )
        )
    return messages


@register()
def check_engine(app_configs: Any = None, **kwargs: Any) -> list:
    """Celery mode's settings (``autotask.contrib.celery.checks``), only when it is configured."""
    if conf.ENGINE != "celery":
        return []
    from .contrib.celery.checks import check

    return check()
