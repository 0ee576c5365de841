"""autotask's runner: ``python bench_autotask.py --db sqlite|postgresql --scenarios ... --workdir D --out F``.

Runs inside the autotask virtualenv (``pip install <repo root> psycopg[binary]``)
with the project in ``projects/autotask_bench``. Workers are ``manage.py
run_autotask`` processes; the companion scenarios use ``projects/autotask_web.py``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import time
import uuid
from pathlib import Path
from statistics import median

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

    def start_worker(self, log, concurrency: int | None = None, processes: int | None = None, **env: str):
        command = [sys.executable, str(PROJECTS / "manage.py"), "run_autotask"]
        if concurrency:
            command += ["--threads", str(concurrency)]
        if processes:
            command += ["--processes", str(processes)]
        return start(command, log, self.worker_env(**env))

    def reset(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("TRUNCATE autotask_taskoutput, autotask_task, autotask_worker, autotask_taskdependency")
            else:
                cursor.execute("DELETE FROM autotask_taskoutput")
                cursor.execute("DELETE FROM autotask_task")
                cursor.execute("DELETE FROM autotask_worker")
                cursor.execute("DELETE FROM autotask_taskdependency")

    def enqueue_one(self, i: int) -> None:
        self.tasks.noop(i)

    def enqueue_bulk(self, n: int) -> None:
        self.tasks.noop.bulk([(i,) for i in range(n)])

    enqueue_many = enqueue_bulk

    def enqueue_io(self, n: int, marks) -> None:
        self.tasks.io.bulk([(str(marks), i) for i in range(n)])

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

    def last_finished(self, n: int, timeout: float) -> float:
        """When the last of ``n`` no-ops ended (epoch seconds), once all have: with several
        processes, an end mark stored last may run while another process ends its batch."""
        from django.db.models import Max

        done = self.Task.objects.filter(function__endswith=".noop", status="DONE")
        common.wait_until(lambda: done.count() >= n, timeout, f"{n} no-ops to be done")
        return done.aggregate(b=Max("finished_at"))["b"].timestamp()


def scenario_drain_output(system: System, ctx: Context) -> dict:
    """Drain of tasks that each print 10 lines and log 2 records, with output capture on
    (the default) and off (``AUTOTASK_OUTPUT = False``), as drain measures it."""
    n = ctx.n(5000, 1000)
    out: dict = {"tasks": n}
    for label, flag in (("on", "1"), ("off", "0")):
        runs = []
        for run in range(ctx.n(3, 1)):
            system.reset()
            common.settle(system)
            marks = ctx.marks_file(f"drain-output-{label}-{run}")
            system.mark(marks, "start")
            system.tasks.print10.bulk([(i,) for i in range(n)])
            system.mark(marks, "end")
            worker = system.start_worker(ctx.log(f"drain-output-{label}-{run}"), BENCH_OUTPUT=flag)
            try:
                got = wait_marks(marks, ["start", "end"], timeout=max(120, n / 20), worker=worker)
            finally:
                stop(worker)
            runs.append(n / (got["end"] - got["start"]))
        out[f"{label}_tasks_per_s"] = round(sorted(runs)[len(runs) // 2], 1)
    out["ratio"] = round(out["on_tasks_per_s"] / out["off_tasks_per_s"], 2)
    system.reset()
    return out


SCALEOUT_ROUNDS = 3  # rounds of the 1, 2 and 4 process drains (1 with --quick)
PRIORITY_DRAINS = 3  # drains during which priority-100 marks are stored (1 with --quick)


def _scaleout_drain(system: System, ctx: Context, n: int, processes: int) -> tuple[float, float]:
    """One no-op drain by ``processes`` worker processes: its tasks/s, and the cores the
    workers and the database server kept busy meanwhile (``common.CpuSampler``)."""
    system.reset()
    common.settle(system)
    marks = ctx.marks_file(f"scaleout-{processes}")
    system.mark(marks, "start")
    system.enqueue_many(n)
    system.mark(marks, "end")
    worker = system.start_worker(ctx.log(f"scaleout-{processes}"), processes=processes)
    cpu = common.CpuSampler(worker.pid)
    try:
        got = wait_marks(marks, ["start", "end"], timeout=max(120, n / 20), worker=worker)
        end = max(got["end"], system.last_finished(n, timeout=120))  # from the start mark to the last no-op's end
    finally:
        cpu.stop()
        stop(worker)
    return n / (end - got["start"]), cpu.cores(got["start"], end)


def scenario_scaleout(system: System, ctx: Context) -> dict:
    """No-op drain with 1, 2 and 4 worker processes (``--processes``), side by side: each round
    drains the same number with each, in an order that turns round by round. ``pN_tasks_per_s``
    and ``pN_cores`` (the cores the workers and the database server kept busy) are medians of
    the rounds, ``pN_speedup`` the median of the rounds' ratios (drains here move by 10-30% from
    one minute to the next); ``p2_ceiling``: the speed-up the machine's cores allow two
    processes at one's cost per task."""
    n = ctx.drain_tasks or ctx.n(20_000, 2000)
    counts = [1, 2, 4]
    rounds: list[dict[int, tuple[float, float]]] = []
    for index in range(ctx.n(SCALEOUT_ROUNDS, 1)):
        order = counts[index % len(counts):] + counts[:index % len(counts)]
        rounds.append({processes: _scaleout_drain(system, ctx, n, processes) for processes in order})
    out: dict = {"tasks": n, "rounds": len(rounds)}
    for processes in counts:
        out[f"p{processes}_tasks_per_s"] = round(median(r[processes][0] for r in rounds), 1)
        out[f"p{processes}_cores"] = round(median(r[processes][1] for r in rounds), 2)
    for processes in (2, 4):
        out[f"p{processes}_speedup"] = round(median(r[processes][0] / r[1][0] for r in rounds), 2)
    if out["p1_cores"]:  # what the machine's cores allow 2 processes, at one's cost per task
        out["p2_ceiling"] = round(min(2, (os.cpu_count() or 1) / out["p1_cores"]), 2)
    system.reset()
    return out


def scenario_priority_latency(system: System, ctx: Context) -> dict:
    """Pickup of priority-100 tasks stored while 10,000 no-op tasks (priority 0) drain, over
    ``PRIORITY_DRAINS`` drains: one worker with the default settings; marks stored 20-40 ms
    apart until the no-ops' end mark has run."""
    n = ctx.n(10_000, 2000)
    system.reset()
    worker, marks = common._warm_worker(system, ctx, "priority")
    urgent = system.tasks.mark.using(priority=100)
    during: list[float] = []
    sent = 0
    try:
        for drain in range(ctx.n(PRIORITY_DRAINS, 1)):
            end, stored = f"end{drain}", []
            system.enqueue_many(n)
            system.mark(marks, end)
            while end not in common.read_marks(marks) and len(stored) < 500:
                label = f"urgent{drain}-{len(stored)}"
                stored.append((label, time.time()))
                urgent(str(marks), label)
                time.sleep(random.uniform(0.02, 0.04))
            got = wait_marks(marks, [label for label, _ in stored] + [end], timeout=120, worker=worker)
            # picked up while the drain went on:
            during += [got[label] - t0 for label, t0 in stored if got[label] < got[end]]
            sent += len(stored)
    finally:
        stop(worker)
    system.reset()
    if not during:
        raise RuntimeError("the drain ended before a priority task was stored")
    return {"drained": n, "drains": ctx.n(PRIORITY_DRAINS, 1), "sent": sent, **common.summary_ms(during)}


def scenario_dependencies(system: System, ctx: Context) -> dict:
    """Dependencies (after=), read from the table: a chain of 1,000 no-ops, each waiting for the
    one before (first start to last end, per link), and one no-op waiting for 1,000 (from the
    last dependency's end to the dependent's start). Stored first, then one worker drains them."""
    n = ctx.n(1000, 200)
    Task = system.Task
    noop = system.tasks.noop
    out: dict = {"tasks": n}

    def drained(last_id, name: str) -> None:
        worker = system.start_worker(ctx.log(name))
        try:
            deadline = time.monotonic() + max(120, n / 5)
            while Task.objects.filter(pk=last_id, status="DONE").count() == 0:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError(f"{name}: the last task did not end DONE")
                time.sleep(0.05)
        finally:
            stop(worker)

    system.reset()
    chain = [noop(0)]
    for i in range(1, n):
        chain.append(noop.using(after=[chain[-1]])(i))
    drained(chain[-1].id, "dependencies-chain")
    first = Task.objects.get(pk=chain[0].id)
    last = Task.objects.get(pk=chain[-1].id)
    out["chain_per_link_ms"] = round((last.finished_at - first.started_at).total_seconds() * 1000 / (n - 1), 2)

    system.reset()
    dependencies = noop.bulk([(i,) for i in range(n)])
    dependent = noop.using(after=dependencies)(n)
    drained(dependent.id, "dependencies-fan-in")
    from django.db.models import Max

    ended = Task.objects.filter(pk__in=[h.id for h in dependencies]).aggregate(last=Max("finished_at"))["last"]
    started = Task.objects.get(pk=dependent.id).started_at
    out["fan_in_ms"] = round((started - ended).total_seconds() * 1000, 2)
    system.reset()
    return out


def scenario_concurrency_memory(system: System, ctx: Context) -> dict:
    """RSS (and PSS: shared pages split between the processes) of the worker's process group
    after 200 I/O-bound tasks: 1 thread, 8 threads, 2 processes; per extra thread and process."""
    out: dict = {}
    for name, options in (("t1", {}), ("t8", {"concurrency": 8}), ("p2", {"processes": 2})):
        system.reset()
        marks = ctx.marks_file(f"mem-{name}")
        worker = system.start_worker(ctx.log(f"mem-{name}"), **options)
        try:
            system.enqueue_io(200, marks)
            wait_marks(marks, [f"io-{i}" for i in range(200)], timeout=120, worker=worker)
            time.sleep(1.0)
            out[f"{name}_rss_mb"] = round(common.group_rss_kb(worker.pid) / 1024, 1)
            out[f"{name}_pss_mb"] = round(common.group_rss_kb(worker.pid, "Pss") / 1024, 1)
        finally:
            stop(worker)
    for kind in ("rss", "pss"):
        out[f"per_thread_{kind}_mb"] = round((out[f"t8_{kind}_mb"] - out[f"t1_{kind}_mb"]) / 7, 2)
        out[f"per_process_{kind}_mb"] = round(out[f"p2_{kind}_mb"] - out[f"t1_{kind}_mb"], 1)
    system.reset()
    return out


def scenario_gunicorn_memory(system: System, ctx: Context) -> dict:
    """A real gunicorn with 8 workers (the benchmark project, each worker a Django process) and its
    companions: total RSS and PSS of the group, with AUTOTASK_COMPANION_SCOPE "process" and "host"."""
    out: dict = {}
    for scope in ("process", "host"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = start(
            [str(Path(sys.executable).with_name("gunicorn")), "--workers", "8", "--bind", f"127.0.0.1:{port}",
             "autotask_wsgi:application"],
            ctx.log(f"gunicorn-{scope}"), system.worker_env(BENCH_COMPANION_SCOPE=scope),
        )
        try:
            want = 8 if scope == "process" else 1
            deadline = time.monotonic() + 180
            while common.count_in_group(server.pid, "autotask.execution.process") != want:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn's companions did not start ({scope} scope)")
                time.sleep(0.5)
            time.sleep(5.0)  # the companions set up and idle
            out[f"{scope}_companions"] = want
            out[f"{scope}_rss_mb"] = round(common.group_rss_kb(server.pid) / 1024, 1)
            out[f"{scope}_pss_mb"] = round(common.group_rss_kb(server.pid, "Pss") / 1024, 1)
        finally:
            stop(server)
    out["saved_rss_mb"] = round(out["process_rss_mb"] - out["host_rss_mb"], 1)
    return out


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


DASHBOARD_ROWS = 1_000_000


def _fill_tasks(db: str, rows: int) -> None:
    """``rows`` task rows as a busy day leaves them, in one statement: 85% DONE over the last
    24 h, 3% WAITING and due, 4% WAITING later, 5% ERROR, 3% CANCELLED (time-ordered ids), in
    three queues, 5% of priority 10."""
    from django.db import connection

    columns = (
        "id, function, name, queue_name, priority, arguments, status, run_at, retries, ttl, attempts, losses, "
        "created_at, started_at, finished_at, expires_at, result, error_message, exception_class, traceback, worker, "
        "cancel_requested, backend, has_dependents"
    )
    queue = "CASE WHEN i % 10 = 0 THEN 'mail' WHEN i % 10 = 1 THEN 'reports' ELSE 'default' END"
    priority = "CASE WHEN i % 20 = 0 THEN 10 ELSE 0 END"
    status = ("CASE WHEN i % 100 < 85 THEN 'DONE' WHEN i % 100 < 92 THEN 'WAITING' WHEN i % 100 < 97 THEN 'ERROR' "
              "ELSE 'CANCELLED' END")
    error = "CASE WHEN i % 100 >= 92 THEN 'ValueError: bad input' ELSE '' END"
    finished = "CASE WHEN i % 100 < 85 OR i % 100 >= 92 THEN {} END"  # NULL for the waiting ones
    arguments = """'{"args":[1],"kwargs":{}}'"""
    if db == "sqlite":
        offset = f"CASE WHEN i % 100 BETWEEN 88 AND 91 THEN i * 0.01 ELSE -86400.0 + i * 86400.0 / {rows} END"
        at = "strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {}))"
        t, expires = at.format(offset), at.format(offset + " + 86400")
        rows_of = f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {rows - 1}) "
        source, task_id, false = "FROM n", "printf('%012x7%019x', 1700000000000 + i, i)", "0"
    else:
        offset = (f"CASE WHEN i % 100 BETWEEN 88 AND 91 THEN i * interval '10 milliseconds' "
                  f"ELSE interval '-1 day' + i * interval '86400 seconds' / {rows} END")
        t = f"(now() + {offset})"
        expires = f"({t} + interval '1 day')"
        rows_of, source, false = "", f"FROM generate_series(0, {rows - 1}) AS i", "false"
        task_id = "(lpad(to_hex(1700000000000 + i), 12, '0') || '7' || lpad(to_hex(i), 19, '0'))::uuid"
    sql = (
        f"{rows_of}INSERT INTO autotask_task ({columns}) SELECT {task_id}, 'bench.tasks.f' || (i % 7), '', {queue}, "
        f"{priority}, {arguments}, "
        f"{status}, {t}, 0, 86400, 1, 0, {t}, {finished.format(t)}, {finished.format(t)}, {finished.format(expires)}, "
        f"'null', {error}, '', '', 'bench:1', {false}, '', {false} {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("%", "%%"), [])


def _fill_the_rest(now) -> None:
    """What else the dashboard reads: 4 live workers running 8 tasks, 20 schedules, and
    2 hours of the workers' per-minute figures."""
    import datetime as dt

    from autotask.models import MinuteStats, Schedule, Task, Worker

    workers = [
        Worker.objects.create(host="bench", pid=i, started_at=now, heartbeat_at=now, tasks_done=1000, queues="" if i else "mail")
        for i in range(4)
    ]
    Task.objects.bulk_create([
        Task(function="bench.tasks.slow", status="RUNNING", run_at=now, created_at=now, started_at=now,
             worker_id=workers[i % 4].id, worker=f"bench:{i % 4}", attempts=1)
        for i in range(8)
    ])
    Schedule.objects.bulk_create([
        Schedule(function=f"bench.tasks.schedule_{i}", kind="periodic", expression=f"every {60 * (i + 1)} s",
                 signature=str(i), next_run_at=now + dt.timedelta(minutes=i), last_run_at=now, last_status="DONE")
        for i in range(20)
    ])
    minute = now.replace(second=0, microsecond=0)
    pickup = json.dumps({str(b): 10 + b % 7 for b in range(40, 60)})
    MinuteStats.objects.bulk_create([
        MinuteStats(minute=minute - dt.timedelta(minutes=m), worker_id=w.id, done=300 + m, failed=m % 5, pickup=pickup)
        for m in range(120) for w in workers
    ])


def scenario_dashboard(system: System, ctx: Context) -> dict:
    """The admin dashboard's data endpoint with 1,000,000 task rows (--quick: 200,000)."""
    from django.db import connection
    from django.utils import timezone

    rows = ctx.n(DASHBOARD_ROWS, 200_000)
    system.reset()
    started = time.monotonic()
    _fill_tasks(ctx.db, rows)
    _fill_the_rest(timezone.now())
    if ctx.db == "postgresql":  # as autovacuum leaves a table that has had a while
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE autotask_task")
    fill_s = time.monotonic() - started
    system.checkpoint()
    out = ctx.workdir / "dashboard.json"
    client = start([sys.executable, str(PROJECTS / "dashboard_client.py"), "30", str(out)], ctx.log("dashboard"),
                   {"DJANGO_SETTINGS_MODULE": "autotask_bench.settings_admin"})
    if client.wait(timeout=600):
        raise RuntimeError(f"the dashboard client failed; see {ctx.log('dashboard')}")
    result = json.loads(out.read_text())
    system.reset()
    from autotask.models import MinuteStats, Schedule

    MinuteStats.objects.all().delete()
    Schedule.objects.all().delete()
    return {"rows": rows, "fill_s": round(fill_s, 1), **result}


if __name__ == "__main__":
    common.main(
        System,
        {
            "companion": scenario_companion, "idle_companion": scenario_idle_companion, "schedules": scenario_schedules,
            "scaleout": scenario_scaleout, "priority_latency": scenario_priority_latency,
            "concurrency_memory": scenario_concurrency_memory, "gunicorn_memory": scenario_gunicorn_memory,
            "dashboard": scenario_dashboard, "drain_output": scenario_drain_output,
            "dependencies": scenario_dependencies,
        },
    )
