"""autotask's runner: ``python bench_autotask.py --db sqlite|postgresql --scenarios ... --workdir D --out F``.

Runs inside the autotask virtualenv (``pip install <repo root> psycopg[binary]``)
with the project in ``projects/autotask_bench``. Workers are ``manage.py
run_autotask`` processes; the companion scenarios use ``projects/autotask_web.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import common
from common import PROJECTS, Context, start, stop, summary_ms, wait_marks


class System:
    ENQUEUE_N = 10_000

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        env = {"DJANGO_SETTINGS_MODULE": "autotask_bench.settings", "BENCH_DB": ctx.db}
        if ctx.db == "sqlite":
            path = ctx.workdir / "autotask.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            env["BENCH_SQLITE_PATH"] = str(path)
        else:
            env["BENCH_PG_NAME"] = os.environ.get("BENCH_PG_NAME", "autotask_bench")
            common.pg_recreate(env["BENCH_PG_NAME"])
        os.environ.update(env, BENCH_CLIENT="1")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from autotask.models import Task
        from autotask_bench import tasks

        self.Task, self.tasks = Task, tasks

    def close(self) -> None:
        from django.db import connections

        connections.close_all()
        if self.ctx.db == "postgresql":
            common.pg_drop(os.environ["BENCH_PG_NAME"])

    def checkpoint(self) -> None:
        from django.db import connections

        connections.close_all()  # each scenario on a new connection (the server may have restarted)
        if self.ctx.db == "sqlite":
            common.sqlite_checkpoint(os.environ["BENCH_SQLITE_PATH"])
        else:
            common.pg_checkpoint(os.environ["BENCH_PG_NAME"])

    def worker_env(self, **extra: str) -> dict:
        return {"BENCH_CLIENT": "0", **extra}

    def start_worker(self, log, **env: str):
        return start([sys.executable, str(PROJECTS / "manage.py"), "run_autotask"], log, self.worker_env(**env))

    def reset(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("TRUNCATE autotask_task, autotask_worker")
            else:
                cursor.execute("DELETE FROM autotask_task")
                cursor.execute("DELETE FROM autotask_worker")

    def enqueue_one(self, i: int) -> None:
        self.tasks.noop(i)

    def enqueue_bulk(self, n: int) -> None:
        self.tasks.noop.bulk([(i,) for i in range(n)])

    enqueue_many = enqueue_bulk

    def enqueue_future(self, n: int) -> None:
        for start_at in range(0, n, 20_000):
            self.tasks.noop_later.bulk([(i,) for i in range(start_at, min(n, start_at + 20_000))])

    def mark(self, path, label: str):
        return self.tasks.mark(str(path), label).id

    def table_latency(self, ids) -> list[float]:
        ids = [uuid.UUID(str(i)) for i in ids]
        rows = {r["id"]: r for r in self.Task.objects.filter(pk__in=ids).values("id", "created_at", "started_at")}
        return [(rows[i]["started_at"] - rows[i]["created_at"]).total_seconds() for i in ids]

    def extra_drain_figures(self) -> dict:
        """The same drain read from the table: first started_at to last finished_at of the no-ops."""
        from django.db.models import Max, Min

        span = self.Task.objects.filter(function__endswith=".noop").aggregate(a=Min("started_at"), b=Max("finished_at"))
        count = self.Task.objects.filter(function__endswith=".noop", status="DONE").count()
        seconds = (span["b"] - span["a"]).total_seconds()
        return {"table_tasks_per_s": round(count / seconds, 1)}


def scenario_companion(system: System, ctx: Context, quiet: float = 0, count: int | None = None) -> dict:
    """Pickup by the companion of the process that enqueues (its pipe wake-up)."""
    system.reset()
    marks, out = ctx.marks_file("companion"), ctx.workdir / "companion-sent.json"
    out.unlink(missing_ok=True)
    count = count or ctx.n(40, 10)
    web = start(
        [sys.executable, str(PROJECTS / "autotask_web.py"), str(marks), str(quiet), str(count), str(out)],
        ctx.log("companion"),
        system.worker_env(),
    )
    try:
        web.wait(timeout=quiet + 180)
    finally:
        stop(web)
    if web.returncode:
        raise RuntimeError(f"the web process exited with code {web.returncode}; see {ctx.log('companion')}")
    sent = json.loads(out.read_text())
    got = wait_marks(marks, [label for label, _, _ in sent], timeout=10)
    in_task = [got[label] - t0 for label, t0, _ in sent]
    table = system.table_latency([task_id for _, _, task_id in sent])
    system.reset()
    result = {"in_task": summary_ms(in_task), "table": summary_ms(table)}
    if quiet:
        result.update(quiet_s=quiet, first_ms=round(in_task[0] * 1000, 2), table_first_ms=round(table[0] * 1000, 2))
    return result


def scenario_idle_companion(system: System, ctx: Context) -> dict:
    return scenario_companion(system, ctx, quiet=max(ctx.idle_seconds, ctx.measure_at - time.time() - 5), count=4)


def scenario_schedules(system: System, ctx: Context) -> dict:
    """A @periodic_task(seconds=1): started_at - due_at over its runs."""
    from autotask.models import Schedule

    system.reset()
    Schedule.objects.all().delete()
    runs = ctx.n(25, 6)
    worker = system.start_worker(ctx.log("schedules"), BENCH_SCHEDULES="1")
    try:
        deadline = time.monotonic() + runs * 3 + 60
        while system.Task.objects.filter(schedule__isnull=False, finished_at__isnull=False).count() < runs + 1:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the periodic task did not run often enough")
            time.sleep(0.5)
    finally:
        stop(worker)
    rows = system.Task.objects.filter(schedule__isnull=False, started_at__isnull=False).order_by("due_at")
    delays = [(r.started_at - r.due_at).total_seconds() for r in rows][1:]  # the first run is the worker's start
    system.reset()
    return {"runs": len(delays), **summary_ms(delays)}


if __name__ == "__main__":
    common.main(
        System,
        {"companion": scenario_companion, "idle_companion": scenario_idle_companion, "schedules": scenario_schedules},
    )
