"""autotask on Celery beside plain Celery, on the same Redis and the same worker settings.

    python benchmarks/celery_engine.py [--db sqlite|postgresql] [--tasks 2000]

Not part of ``benchmarks/run.py`` yet: a quick, standalone measurement (uses the test
project, tests/settings.py and tests/celery_app.py, in a database of its own). Per system:
the enqueue cost (a call, committed), the drain of ``--tasks`` no-op tasks with one Celery
worker at Celery's default concurrency (the prefork pool, one process per CPU; from the
first task's start to the last one's end, stamped by the tasks), and the
idle pickup (enqueue to start, one task at a time, the worker idle, median of 30).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 12


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    broker = f"redis://127.0.0.1:6379/{REDIS_DB}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings", AUTOTASK_TEST_DB=args.db, AUTOTASK_TEST_ENGINE="celery",
        AUTOTASK_TEST_BROKER=broker, AUTOTASK_TEST_HEARTBEAT_INTERVAL="5",
        AUTOTASK_TEST_DATABASE_NAME="/tmp/autotask-celery-bench.sqlite3" if args.db == "sqlite" else "autotask_celery_bench",
    )
    sys.path.insert(0, str(ROOT))
    if args.db == "postgresql":
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "CREATE DATABASE autotask_celery_bench"],
                       capture_output=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import redis
    from django.db.models import Max, Min

    from autotask.models import Task
    from tests import tasks
    from tests.celery_app import app

    client = redis.Redis.from_url(broker)

    def worker() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "-l", "WARNING", "-Q", "default",
             "--without-gossip", "--without-mingle", "--include", "benchmarks.celery_engine_tasks"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        time.sleep(4)  # started (no message is lost meanwhile: they wait in Redis)
        return process

    def stop(process: subprocess.Popen) -> None:
        process.terminate()
        process.wait(timeout=60)

    def wait_for(condition, timeout: float = 600, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("timed out")
            time.sleep(interval)

    rows = {}
    for system in ("celery", "autotask"):
        client.flushdb()
        Task.objects.all().delete()
        n = args.tasks
        if system == "celery":
            started = time.perf_counter()
            for i in range(n):
                app.send_task("bench.noop", queue="default", ignore_result=True)
            enqueue = (time.perf_counter() - started) / n
            done = lambda: int(client.get("bench:done") or 0) >= n  # noqa: E731
        else:
            started = time.perf_counter()
            for i in range(n):
                tasks.noop()
            enqueue = (time.perf_counter() - started) / n
            done = lambda: Task.objects.filter(status="DONE").count() >= n  # noqa: E731
        process = worker()
        wait_for(done)
        # From the first task's start to the last one's end (the worker may start draining
        # before this process sees it ready).
        if system == "celery":
            drain = n / (float(client.get("bench:last")) - float(client.get("bench:first")))
        else:
            span = Task.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
            drain = n / (span["last"] - span["first"]).total_seconds()
        pickups = []
        for _ in range(30):
            time.sleep(0.05)
            if system == "celery":
                before = int(client.get("bench:done") or 0)
                sent = time.time()
                app.send_task("bench.noop_stamp", queue="default", ignore_result=True)
                wait_for(lambda: int(client.get("bench:done") or 0) > before, 30, 0.001)
                pickups.append(float(client.get("bench:started")) - sent)
            else:
                sent = time.time()
                handle = tasks.noop()
                handle.wait(timeout=30)
                pickups.append(handle.started_at.timestamp() - sent)
        stop(process)
        rows[system] = (enqueue * 1e3, drain, statistics.median(pickups) * 1e3)
    print(f"database {args.db}, {args.tasks} no-op tasks, one worker at Celery's default concurrency, Redis")
    print(f"{'':12} {'enqueue ms':>11} {'drain /s':>9} {'pickup p50 ms':>14}")
    for system, (enqueue, drain, pickup) in rows.items():
        print(f"{system:12} {enqueue:11.3f} {drain:9.0f} {pickup:14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
