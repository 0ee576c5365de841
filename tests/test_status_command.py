"""``manage.py autotask_status``: the figures as text or JSON, and the exit status of a health check."""

import datetime as dt
import json
import subprocess
import sys

import pytest
from django.utils import timezone

from autotask.models import Task, Worker
from autotask.task import ERROR, WAITING

from .conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def status(*args):
    return subprocess.run([sys.executable, "-m", "django", "autotask_status", *args], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


def test_healthy_with_a_live_worker_and_unhealthy_without_one():
    now = timezone.now()
    Task.objects.create(function="tests.tasks.noop", status=WAITING, run_at=now - dt.timedelta(seconds=5), created_at=now)
    Task.objects.create(function="tests.tasks.noop", status=ERROR, run_at=now, created_at=now, error_message="it broke")
    down = status()
    assert down.returncode == 1
    assert "UNHEALTHY: 1 tasks are due and no worker is alive" in down.stdout
    assert "waiting 1, running 0, done 0, error 1, cancelled 0" in down.stdout and "it broke" in down.stdout
    assert "1 tasks are due and no worker is alive" in down.stderr
    as_json = status("--json")
    assert as_json.returncode == 1
    figures = json.loads(as_json.stdout)
    assert figures["counts"]["WAITING"] == {"value": 1, "kind": "exact", "text": "1"} and figures["health"]["ok"] is False
    assert status("--grace", "3600").returncode == 0
    Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=timezone.now(), companion=True)
    up = status()
    assert up.returncode == 0, up.stderr
    assert "health:    OK (1 workers alive)" in up.stdout and "h:1  companion  queues all  alive" in up.stdout


def test_a_database_without_autotask_tables_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "django", "autotask_status"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=subprocess_env(AUTOTASK_TEST_DATABASE_NAME="/nonexistent/dir/db.sqlite3"),
    )
    assert result.returncode == 2 and "can't read autotask's tables" in result.stderr
