"""The app config: registers checks, and starts the companion worker where it belongs.

``ready()`` touches no database.
"""

from __future__ import annotations

import logging
import os
import sys

from django.apps import AppConfig

from .command import running_command

logger = logging.getLogger(__name__)


def should_start_companion() -> tuple[bool, str]:
    """Whether this process starts a companion worker, and why (or why not)."""
    from .conf import conf
    from .execution.supervisor import COMPANION_ENV

    if conf.EAGER:
        return False, "AUTOTASK_EAGER is True: calls run at once in the process that makes them"
    if not conf.IS_ACTIVE:
        return False, "AUTOTASK_IS_ACTIVE is False"
    if conf.ENGINE != "autotask":
        return False, f"AUTOTASK_ENGINE is {conf.ENGINE!r}: its workers run the tasks"
    if not conf.WORKER_AUTOSTART:
        return False, "AUTOTASK_WORKER_AUTOSTART is False"
    if os.environ.get(COMPANION_ENV):
        return False, "this is a companion worker"
    if "pytest" in sys.modules:
        return False, "running under pytest"
    command = running_command()
    if command is None:
        return True, "a Django process (server or script)"
    if command not in conf.AUTOSTART_COMMANDS:
        return False, f"management command {command!r} is not in AUTOTASK_AUTOSTART_COMMANDS"
    if command == "runserver" and "--noreload" not in sys.argv and os.environ.get("RUN_MAIN") != "true":
        return False, "the autoreloader's parent process of runserver"
    return True, f"management command {command!r}"


class AutotaskConfig(AppConfig):
    name = "autotask"
    verbose_name = "autotask"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .conf import stores_calls
        from .db import configure_sqlite

        if stores_calls():
            connection_created.connect(configure_sqlite, dispatch_uid="autotask.configure_sqlite")

        from . import engine
        from django.test.signals import setting_changed

        engine.configure()
        setting_changed.connect(engine.configure, dispatch_uid="autotask.engine.configure")

        start, why = should_start_companion()
        logger.debug("companion worker start=%s reason=%s", start, why)
        if start:
            from .execution.supervisor import start_companion

            start_companion()
