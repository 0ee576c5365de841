"""Every AUTOTASK_* setting with its default, read from Django's settings at first use.

Each value is read once and kept (the worker reads several for every task it
runs, and a settings lookup costs more than the rest of such a read); Django's
``setting_changed`` (``override_settings``, pytest-django's ``settings``)
forgets them all, so tests can still change any. Never copy a value at import.
Use ``from autotask.conf import conf`` and ``conf.IS_ACTIVE``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class Setting:
    default: Any
    types: tuple[type, ...]
    doc: str
    choices: tuple[Any, ...] = ()

    @property
    def nullable(self) -> bool:
        return self.default is None or "(None:" in self.doc


SETTINGS: dict[str, Setting] = {
    # autotask 0.5's six settings, with its names, spelling and defaults.
    "IS_ACTIVE": Setting(False, (bool,), "decorators wrap and the companion worker starts"),
    "WORKER_EXECUTABLE": Setting(None, (str,), "the Python that runs the companion worker (default: the running interpreter)"),
    "WORKER_MONITOR_INTERVALL": Setting(5, (int, float), "seconds between liveness checks of the companion worker"),
    "HANDLE_TASK_IDLE_TIME": Setting(10, (int, float), "longest sleep of an idle worker; new work wakes it at once"),
    "RETRY_DELAY": Setting(2, (int, float), "seconds before a failed delayed task is retried"),
    "CLEAN_INTERVALL": Setting(600, (int, float), "seconds between clean-ups of expired results"),
    # autotask's own.
    "EAGER": Setting(
        False, (bool,), "True: calls are stored and run at once in the calling process, and return finished handles; no worker starts (for tests)"
    ),
    "WORKER_AUTOSTART": Setting(True, (bool,), "False: web processes start no companion worker"),
    "AUTOSTART_COMMANDS": Setting(("runserver",), (list, tuple), "management commands that start a companion"),
    "POLL_INTERVAL": Setting(None, (int, float), "seconds between checks for work from other processes where nothing wakes the worker (None: 0.01 on SQLite, 0.1 on MySQL/MariaDB; PostgreSQL uses LISTEN/NOTIFY)"),
    "HEARTBEAT_INTERVAL": Setting(5, (int, float), "seconds between a worker's heartbeats"),
    "WORKER_LOST_AFTER": Setting(60, (int, float), "seconds without heartbeat after which a worker on another host counts as lost"),
    "SCHEDULE_RUN_TTL": Setting(86400, (int, float), "seconds a finished run of a periodic or cron task is kept"),
    "FAILED_TTL": Setting(7 * 86400, (int, float), "seconds an ERROR or CANCELLED task is kept, unless its own ttl is longer (None: kept for good)"),
    "MAX_WORKER_LOSSES": Setting(3, (int,), "a task whose worker died this many times is not run again"),
    "STOP_GRACE": Setting(30, (int, float), "seconds a stopping worker lets its running task finish before handing it back"),
    "WORKER_MAX_TASKS": Setting(None, (int,), "a worker replaces itself after this many tasks (None: never)"),
    "WORKER_MAX_MEMORY_MB": Setting(None, (int, float), "a worker replaces itself above this resident memory, and a runner above it is replaced (None: never)"),
    "TIMEOUT_MODE": Setting(
        "process", (str,), "how a task with a timeout runs: 'process' in the worker's runner process, which a timeout or cancel kills (stops any code); 'signal' in the worker, stopped by an exception raised inside the task (no extra process, but C code that blocks is not stopped)",
        choices=("process", "signal"),
    ),
    "CLAIM_BATCH": Setting(64, (int,), "most tasks a worker claims in one transaction when many quick tasks are due"),
    "SQLITE_SYNCHRONOUS": Setting(
        "NORMAL", (str,), "PRAGMA synchronous for SQLite connections (None: SQLite's default, FULL)",
        choices=("OFF", "NORMAL", "FULL", "EXTRA"),
    ),
    "DATABASE": Setting("default", (str,), "the database alias that holds autotask's tables"),
    "QUEUES": Setting(None, (list, tuple), "the queues companion workers take (None: all); run_autotask takes --queue"),
    "WORKER_PROCESSES": Setting(1, (int,), "worker processes run_autotask starts (--processes); the companion is one process"),
    "WORKER_THREADS": Setting(1, (int,), "tasks a worker process runs at once, one per thread (run_autotask --threads; the companion's too)"),
    "COMPANION_SCOPE": Setting(
        "process", (str,), "'process': every Django process starts its own companion worker; 'host': one companion per host and database, started by whichever Django process holds the host's lock",
        choices=("process", "host"),
    ),
    "INTERRUPT_GRACE": Setting(
        5, (int, float), "seconds a cancelled, timed-out or stopped task has to stop once interrupted; a task still running then (blocked in C code) is recorded as the interrupt says and its worker process replaced"
    ),
    "OUTPUT": Setting(True, (bool,), "capture each run's output (print, sys.stdout/stderr, log records) for handle.output and the admin; False: nothing is captured"),
    "OUTPUT_LOG_LEVEL": Setting("INFO", (str, int), "log records of this level and above, from any logger, are part of a run's output"),
    "OUTPUT_MAX_BYTES": Setting(1_000_000, (int,), "most characters of output kept per task: the beginning and the end, with a line saying how much was left out"),
    "OUTPUT_FLUSH_INTERVAL": Setting(0.5, (int, float), "seconds between writes of a running task's new output to the database"),
    "ENGINE": Setting(
        "autotask", (str,), "what runs the tasks: 'autotask', its own workers (the companion, run_autotask); 'celery', the Celery workers of AUTOTASK_CELERY_APP",
        choices=("autotask", "celery"),
    ),
    "CELERY_APP": Setting(None, (str,), "with AUTOTASK_ENGINE = 'celery': the dotted path of the Celery app, e.g. 'proj.celery.app'"),
    "CELERY_DISPATCH_INTERVAL": Setting(
        1, (int, float), "with AUTOTASK_ENGINE = 'celery': seconds between a Celery worker's looks for due schedules, tasks not handed over yet (the broker was down) and runs of lost workers"
    ),
    "CELERY_ETA_LIMIT": Setting(
        3600, (int, float), "with AUTOTASK_ENGINE = 'celery': a task due later than this many seconds is not sent with an ETA (which Celery workers hold in memory) but waits in the table, and a dispatcher sends it when it is due"
    ),
    "CELERY_RESEND_AFTER": Setting(
        60, (int, float), "with AUTOTASK_ENGINE = 'celery': a task handed over and due this many seconds ago, not started, whose Celery queue is empty, is sent again (its message was lost: a Redis without persistence restarted)"
    ),
    "DASHBOARD_REFRESH": Setting(3, (int, float), "seconds between the admin dashboard's updates (while its tab is visible)"),
}


class Conf:
    """Attribute access to the settings, e.g. ``conf.RETRY_DELAY``."""

    def __getattr__(self, name: str) -> Any:
        try:
            spec = SETTINGS[name]
        except KeyError:
            raise AttributeError(f"unknown autotask setting {name!r}") from None
        value = getattr(settings, "AUTOTASK_" + name, spec.default)
        if name == "WORKER_EXECUTABLE" and not value:
            value = sys.executable
        self.__dict__[name] = value  # read once: found before __getattr__ from now on
        return value

    def forget(self, **kwargs: Any) -> None:
        """Read every setting afresh (``setting_changed``)."""
        self.__dict__.clear()


conf = Conf()
setting_changed.connect(conf.forget, dispatch_uid="autotask.conf.forget")


def is_eager() -> bool:
    """``AUTOTASK_EAGER``, a bool."""
    return bool(conf.EAGER)


def stores_calls() -> bool:
    """Whether the decorators wrap and calls are stored: ``AUTOTASK_IS_ACTIVE``, or
    ``AUTOTASK_EAGER`` (which stores calls too, and runs them at once)."""
    return bool(conf.IS_ACTIVE or is_eager())
