"""Fault injection: the database server restarts under a worker.

These restart the real PostgreSQL or MariaDB server of the machine, so they
run only where the test can do that (as root, with the server's tools).
"""

import os
import shutil
import subprocess
import time

import pytest
from django.db import connection

from autotask.models import Task
from autotask.task import DONE

from . import tasks
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def restart_database_server():
    if connection.vendor == "postgresql":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, timeout=120)
        ready = ["pg_isready", "-h", "127.0.0.1", "-q"]
    else:
        subprocess.run(["mariadb-admin", "-uroot", "shutdown"], check=True, timeout=120)
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
                       check=True, timeout=60)
        ready = ["mariadb-admin", "-uroot", "ping"]
    wait_until(lambda: subprocess.run(ready, capture_output=True).returncode == 0, 120, "the database server")
    connection.close()  # this test's own connection died with the server


@pytest.fixture
def restartable():
    if connection.vendor == "postgresql":
        needed = "pg_ctlcluster"
    elif connection.vendor == "mysql":
        needed = "mariadb-admin"
    else:
        pytest.skip("SQLite has no server to restart")
    if os.geteuid() != 0 or not shutil.which(needed):
        pytest.skip(f"restarting the server needs root and {needed}")


def test_worker_reconnects_after_a_restart_while_idle(processes, restartable):
    processes.worker()
    assert tasks.add(1, 1).wait(timeout=60) == 2
    restart_database_server()
    handle = wait_until(lambda: _try(lambda: tasks.add(2, 2)), 60, "enqueue after the restart")
    assert handle.wait(timeout=120) == 4


def test_a_task_running_during_a_restart_gets_its_outcome_recorded(processes, restartable):
    processes.worker()
    handle = tasks.sleep_for(4, key="through-restart")
    wait_until(lambda: Note.objects.filter(key="through-restart").exists(), 60, "the task to start")
    restart_database_server()
    assert handle.wait(timeout=120) == 4
    row = Task.objects.get(pk=handle.id)
    assert row.status == DONE and row.attempts == 1


def _try(action):
    try:
        return action()
    except Exception:
        connection.close()
        time.sleep(0.2)
        return None


def test_producers_and_randomly_killed_workers_lose_nothing(processes):
    """Three producers store 1,000 calls each while workers are killed with SIGKILL
    and replaced. Every task ends DONE; a task runs twice only if its worker died
    while running it (at-least-once delivery), and that shows in its ``losses``."""
    import random
    import signal

    from django.db.models import Count

    workers = [processes.worker() for _ in range(3)]
    producers = [processes.start("-m", "tests.run_producer", "1000", f"p{n}-", name="producer") for n in range(3)]
    rng = random.Random(4)
    kills = 0
    while kills < 6:
        wait_until(lambda: Note.objects.count() >= 300 * (kills + 1) or all(p.poll() is not None for p in producers),
                   300, "progress before the next kill")
        victim = workers.pop(rng.randrange(len(workers)))
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        kills += 1
        workers.append(processes.worker())
    for producer in producers:
        assert producer.wait(timeout=300) == 0, processes.log(producer)
    wait_until(lambda: Task.objects.filter(status=DONE).count() == 3000, 600, "3000 tasks DONE", interval=0.5)
    assert Task.objects.count() == 3000
    assert Note.objects.values("key").distinct().count() == 3000  # none lost
    twice = set(Note.objects.values("key").annotate(n=Count("id")).filter(n__gt=1).values_list("key", flat=True))
    lost_runs = set(Task.objects.filter(losses__gt=0).values_list("id", flat=True))
    assert len(twice) <= len(lost_runs), (twice, lost_runs)
    print(f"faults injected={kills} tasks=3000 lost=0 ran twice={len(twice)} runs lost with their worker={len(lost_runs)}")
