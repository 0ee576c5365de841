"""Shared fixtures: real worker processes against the test database.

The database is chosen by ``AUTOTASK_TEST_DB`` (sqlite, postgresql, mysql). A
database server that can't be reached skips its tests on a laptop and fails
them in CI (``CI=true``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], object], timeout: float = 60.0, message: str = "condition", interval: float = 0.02):
    """Poll ``condition`` until it is truthy; fail after a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def process_exists(pid):
    """True while ``pid`` runs (a zombie that nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that uses this test database."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["AUTOTASK_TEST_DATABASE_NAME"] = connections["default"].settings_dict["NAME"]
    env.update(extra)
    return env


class Processes:
    """Starts processes for a test and makes sure none outlives it."""

    def __init__(self, log_dir: Path) -> None:
        self.started: list[subprocess.Popen] = []
        self.log_dir = log_dir

    def start(self, *args: str, env: dict[str, str] | None = None, name: str = "proc") -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.started)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env or subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def worker(self, **extra: str) -> subprocess.Popen:
        return self.start("-m", "tests.run_worker", env=subprocess_env(**extra), name="worker")

    def log(self, process: subprocess.Popen) -> str:
        return Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=30)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def pytest_collection_modifyitems(config, items):
    db = os.environ.get("AUTOTASK_TEST_DB", "sqlite")
    if db == "sqlite":
        return
    from django.conf import settings

    connection_settings = settings.DATABASES["default"]
    try:
        if db == "postgresql":
            import psycopg

            psycopg.connect(
                host=connection_settings["HOST"], port=connection_settings["PORT"], user=connection_settings["USER"],
                dbname=connection_settings["NAME"], connect_timeout=5,
            ).close()
        else:
            import MySQLdb

            MySQLdb.connect(host=connection_settings["HOST"], port=int(connection_settings["PORT"]), user="root", connect_timeout=5).close()
    except Exception as exc:
        if os.environ.get("CI"):
            raise pytest.UsageError(f"{db} is not reachable in CI: {exc}")
        skip = pytest.mark.skip(reason=f"{db} is not reachable: {exc}")
        for item in items:
            item.add_marker(skip)
