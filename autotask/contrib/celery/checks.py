"""System checks of Celery mode (``AUTOTASK_ENGINE = "celery"``), run by ``autotask.checks``."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning

from ...conf import conf


def check() -> list[Any]:
    if not conf.CELERY_APP:
        return [
            Error(
                "AUTOTASK_ENGINE is 'celery' but AUTOTASK_CELERY_APP is not set",
                hint="Set AUTOTASK_CELERY_APP to the dotted path of your Celery app, e.g. 'proj.celery.app'.",
                id="autotask.E010",
            )
        ]
    try:
        from django.utils.module_loading import import_string

        import celery

        app = import_string(conf.CELERY_APP)
    except ImportError as exc:
        return [
            Error(
                f"AUTOTASK_CELERY_APP {conf.CELERY_APP!r} can't be imported: {exc}",
                hint="Install Celery (pip install 'autotask[celery]') and check the dotted path, e.g. 'proj.celery.app'.",
                id="autotask.E010",
            )
        ]
    if not isinstance(app, celery.Celery):
        return [Error(f"AUTOTASK_CELERY_APP {conf.CELERY_APP!r} is not a Celery app but {app!r}", id="autotask.E010")]
    messages: list[Any] = []
    settings = app.conf
    for name in ("task_serializer", "accept_content", "result_serializer"):
        value = settings.get(name)
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if name == "accept_content" and "json" not in values and "application/json" not in values:
            wrong = True
        elif name != "accept_content" and values != ["json"]:
            wrong = True
        else:
            wrong = False
        if wrong:
            messages.append(
                Error(
                    f"the Celery app's {name} is {value!r}: autotask's messages are JSON (the task's id), never pickle",
                    hint=f"Set {name} to 'json'" + (" (or a list with 'json')" if name == "accept_content" else "")
                    + " in the Celery app's configuration (CELERY_" + name.upper() + " with namespace='CELERY').",
                    id="autotask.E011",
                )
            )
    if settings.get("result_backend"):
        messages.append(
            Warning(
                f"the Celery app has a result backend ({settings.get('result_backend')!r}) that autotask doesn't need: "
                "a task's result, status and progress are in autotask's table, and its task stores no Celery result",
                hint="Remove result_backend unless other Celery tasks of yours need it; add 'autotask.W010' to "
                "SILENCED_SYSTEM_CHECKS if they do.",
                id="autotask.W010",
            )
        )
    if not settings.get("CELERY_DB_REUSE_MAX"):
        messages.append(
            Warning(
                "Celery closes the database connections before and after every task unless CELERY_DB_REUSE_MAX "
                "is set: each autotask run then opens a connection of its own (on PostgreSQL, a third of the speed)",
                hint="Set CELERY_DB_REUSE_MAX = 1000 in the settings (Celery's Django support reads it there): a "
                "connection serves that many tasks; add 'autotask.W011' to SILENCED_SYSTEM_CHECKS to keep Celery's default.",
                id="autotask.W011",
            )
        )
    return messages
