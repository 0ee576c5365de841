"""What every system's runner shares: processes, marks, statistics and the scenarios.

Standard library only: each runner imports this inside its system's own virtualenv.

A runner module defines a ``System`` (how to reset the queue, store tasks and
start a worker) and calls ``main(System)``. The scenarios below are written once
against that interface, so every system is measured the same way:

- time is read in the task itself: the ``mark(path, label)`` task appends
  ``label <time.time()>`` to a file as soon as it runs;
- drain throughput = tasks / (time the "end" mark ran - time the "start" mark
  ran), the marks stored just before and just after the no-op tasks;
- pickup latency = in-task time - client time just before the enqueue call.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECTS = HERE / "projects"
FAR_FUTURE_S = 10**8  # about three years: "not yet due"
sys.path.insert(0, str(PROJECTS))  # the systems' apps, settings and tasks

# -- processes -------------------------------------------------------------------

_groups: list[subprocess.Popen] = []


def start(cmd: list[str], log: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (session); it is killed when this process ends."""
    full_env = dict(os.environ, PYTHONPATH=str(PROJECTS), **(env or {}))
    out = open(log, "ab")
    proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    out.close()
    _groups.append(proc)
    pidfile = os.environ.get("BENCH_PIDFILE")
    if pidfile:  # the driver kills what is left, should this runner die first
        with open(pidfile, "a") as f:
            f.write(f"{proc.pid}\n")
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure its group (e.g. forked children) is too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    if proc in _groups:
        _groups.remove(proc)


def stop_all() -> None:
    for proc in list(_groups):
        stop(proc, grace=3.0)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)


def _group(pgid: int) -> list[str]:
    """The pids (as strings) of the processes of a process group."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(entry)
        except (OSError, ValueError, IndexError):
            continue
    return pids


def group_rss_kb(pgid: int, field: str = "Rss") -> int:
    """Resident memory summed over every process of a process group: ``Rss`` (VmRSS, which
    counts a page shared by several processes in each), or ``Pss`` (a shared page split
    between the processes that share it)."""
    total = 0
    for pid in _group(pgid):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def count_in_group(pgid: int, text: str) -> int:
    """How many processes of a process group have ``text`` in their command line."""
    count = 0
    for pid in _group(pgid):
        try:
            count += text in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return count


def pg_params() -> dict:
    return {
        "host": os.environ.get("BENCH_PGHOST", "127.0.0.1"),
        "port": int(os.environ.get("BENCH_PGPORT", "5432")),
        "user": os.environ.get("BENCH_PGUSER", "postgres"),
        "password": os.environ.get("BENCH_PGPASSWORD", ""),
    }


def pg_drop(name: str) -> None:
    """Drop a benchmark database once its runner is done (kept with ``run.py --keep``)."""
    if os.environ.get("BENCH_KEEP") == "1":
        return
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **pg_params()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_recreate(name: str) -> None:
    """Drop and create a PostgreSQL database (psycopg 3 must be installed)."""
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **pg_params()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# -- marks -------------------------------------------------------------------------


def read_marks(path: Path) -> dict[str, float]:
    marks = {}
    if path.exists():
        for line in path.read_text().splitlines():
            label, _, at = line.rpartition(" ")
            if label:
                marks[label] = float(at)
    return marks


def wait_marks(path: Path, labels: list[str], timeout: float, worker: subprocess.Popen | None = None) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        marks = read_marks(path)
        if all(label in marks for label in labels):
            return marks
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"worker exited with code {worker.returncode}")
        if time.monotonic() > deadline:
            missing = [label for label in labels if label not in marks]
            raise TimeoutError(f"{len(missing)} of {len(labels)} marks not seen within {timeout:.0f} s")
        time.sleep(0.02)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


class CpuSampler:
    """The CPU time a worker's process group and the local PostgreSQL server have used, read
    from /proc every ``every`` seconds in a thread (Linux): ``cores(t0, t1)`` is how many
    cores they kept busy between two epoch times. Both share the machine's cores, so the
    most N worker processes can drain is about min(N, cores on the machine / cores(one))
    times what one drains."""

    def __init__(self, pgid: int, every: float = 0.1) -> None:
        self.pgid, self.every = pgid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._cpu()))
            self._stop.wait(self.every)

    def _cpu(self) -> float:
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:  # gone meanwhile
                continue
            name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if name == "postgres":  # with its ended children (connections): the postmaster's
                total += sum(int(value) for value in fields[11:15])
            elif int(fields[2]) == self.pgid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cores(self, t0: float, t1: float) -> float | None:
        def at(t: float) -> float:
            before = [s for s in self.samples if s[0] <= t] or self.samples[:1]
            after = [s for s in self.samples if s[0] >= t] or self.samples[-1:]
            (ta, ca), (tb, cb) = before[-1], after[0]
            return ca if tb == ta else ca + (cb - ca) * (t - ta) / (tb - ta)

        if len(self.samples) < 2 or t1 <= t0:
            return None
        return round((at(t1) - at(t0)) / (t1 - t0), 2)


# -- statistics ----------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


# -- the scenarios -----------------------------------------------------------------------


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.db = args.db
        self.quick = args.quick
        self.workdir = Path(args.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.idle_seconds = args.idle_seconds
        self.measure_at = args.measure_at
        self.drain_tasks: int | None = None  # set by the drain scenario, reused by backlog
        self._n = 0

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def marks_file(self, name: str) -> Path:
        self._n += 1
        path = self.workdir / f"marks-{name}-{self._n}.txt"
        path.unlink(missing_ok=True)
        return path

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"


def _timed_singles(system, n: int) -> float:
    gc.collect()  # each timed round starts without the garbage of the ones before
    t = time.perf_counter()
    for i in range(n):
        system.enqueue_one(i)
    return time.perf_counter() - t


def scenario_enqueue(system, ctx: Context) -> dict:
    """µs per single enqueue call (no worker running): the median of 5 rounds of n/5 calls;
    then, where the system has one, a bulk call of n tasks (the median of 5 back to
    back, each on an emptied table) and its speed-up over the n single calls."""
    n = ctx.n(system.ENQUEUE_N, 1000)
    system.reset()
    _timed_singles(system, 50)  # warm-up: connection, first statements
    rounds = [_timed_singles(system, n // 5) / (n // 5) * 1e6 for _ in range(5)]
    out = {"calls": n, "single_us": round(percentile(rounds, 50), 1), "single_us_rounds": [round(r, 1) for r in rounds]}
    if getattr(system, "enqueue_bulk", None):  # not every system has a bulk call
        bulk_rounds = []
        system.reset()
        settle(system)
        for _ in range(ctx.n(5, 1)):  # back to back, as the single calls' rounds
            system.reset()
            gc.collect()
            t = time.perf_counter()
            system.enqueue_bulk(n)
            bulk_rounds.append((time.perf_counter() - t) / n * 1e6)
        bulk = percentile(bulk_rounds, 50)
        out.update(bulk_us=round(bulk, 2), bulk_us_rounds=[round(r, 2) for r in bulk_rounds],
                   bulk_speedup=round(out["single_us"] / bulk, 1))
    system.reset()
    return out


DRAIN_SECONDS = 2.0  # a measured drain lasts about this long: a 0.1 s window is mostly noise
DRAIN_MAX = 20_000


def drain_once(system, ctx: Context, n: int, name: str) -> dict:
    marks = ctx.marks_file(name)
    system.mark(marks, "start")
    system.enqueue_many(n)
    system.mark(marks, "end")
    worker = system.start_worker(ctx.log(name))
    try:
        got = wait_marks(marks, ["start", "end"], timeout=max(120, n / 20), worker=worker)
    finally:
        stop(worker)
    elapsed = got["end"] - got["start"]
    return {"tasks": n, "seconds": round(elapsed, 3), "tasks_per_s": round(n / elapsed, 1)}


def _median_run(runs: list[dict]) -> dict:
    out = dict(sorted(runs, key=lambda r: r["tasks_per_s"])[len(runs) // 2])
    out["runs_tasks_per_s"] = [r["tasks_per_s"] for r in runs]
    return out


def scenario_drain(system, ctx: Context) -> dict:
    """Throughput of one worker over stored no-op tasks, between the start and end marks.

    A first run of 2,000 tasks sizes the measured ones: as many tasks as the system
    drains in about DRAIN_SECONDS (2,000 at least, DRAIN_MAX at most), so that a fast
    system is not timed over a tenth of a second. The median of 3 runs (1 with
    --quick), each with a new worker.
    """
    probe_n = ctx.n(2000, 500)
    system.reset()
    settle(system)
    probe = drain_once(system, ctx, probe_n, "drain")
    ctx.drain_tasks = max(probe_n, min(ctx.n(DRAIN_MAX, 2000), int(probe["tasks_per_s"] * DRAIN_SECONDS) // 1000 * 1000))
    runs = []
    for _ in range(ctx.n(3, 1)):
        system.reset()
        settle(system)
        run = drain_once(system, ctx, ctx.drain_tasks, "drain")
        run.update(system.extra_drain_figures())
        runs.append(run)
    system.reset()
    return dict(_median_run(runs), probe_tasks_per_s=probe["tasks_per_s"])


def scenario_backlog(system, ctx: Context) -> dict:
    """As drain, with many not-yet-due tasks in the table: the same number of tasks,
    the median of 3 runs (1 if the first took over 10 s), finished rows left in place."""
    system.reset()
    future = ctx.n(200_000, 20_000)
    t = time.perf_counter()
    system.enqueue_future(future)
    stored = time.perf_counter() - t
    runs: list[dict] = []
    while len(runs) < ctx.n(3, 1) and not (runs and runs[0]["seconds"] > 10):
        settle(system)
        runs.append(drain_once(system, ctx, ctx.drain_tasks or ctx.n(2000, 500), "backlog"))
    out = dict(_median_run(runs), not_due=future, store_not_due_s=round(stored, 1))
    system.reset()
    return out


def _warm_worker(system, ctx: Context, name: str):
    marks = ctx.marks_file(name)
    worker = system.start_worker(ctx.log(name))
    system.mark(marks, "warm")
    wait_marks(marks, ["warm"], timeout=120, worker=worker)
    time.sleep(1.0)  # measure the idle worker, not the moments after its first task
    return worker, marks


def _sample_latency(system, marks: Path, count: int, spacing=(0.1, 0.2)) -> tuple[list[str], list[float]]:
    """Enqueue ``count`` marks spaced ``spacing`` seconds apart; return their labels and their latencies."""
    labels, refs = [], []
    for i in range(count):
        label = f"lat{i}"
        t0 = time.time()
        ref = system.mark(marks, label)
        labels.append(label)
        refs.append((label, t0, ref))
        time.sleep(random.uniform(*spacing))
    got = wait_marks(marks, labels, timeout=60)
    return refs, [got[label] - t0 for label, t0, _ in refs]


def scenario_latency(system, ctx: Context) -> dict:
    """Idle pickup: no-op marks enqueued 100-200 ms apart on an idle, warmed-up worker."""
    system.reset()
    worker, marks = _warm_worker(system, ctx, "latency")
    try:
        refs, lat = _sample_latency(system, marks, ctx.n(40, 10))
    finally:
        stop(worker)
    out = {"in_task": summary_ms(lat)}
    table = system.table_latency([ref for _, _, ref in refs])
    if table:
        out["table"] = summary_ms(table)
    system.reset()
    return out


def scenario_idle(system, ctx: Context) -> dict:
    """Pickup after a quiet period: one worker, warmed up, then idle, then a few tasks."""
    system.reset()
    worker, marks = _warm_worker(system, ctx, "idle")
    try:
        quiet_from = time.time()
        until = max(quiet_from + ctx.idle_seconds, ctx.measure_at or 0)
        time.sleep(max(0.0, until - time.time()))
        refs, lat = _sample_latency(system, marks, 4, spacing=(0.3, 0.4))
    finally:
        stop(worker)
    out = {"quiet_s": round(until - quiet_from, 1), "first_ms": round(lat[0] * 1000, 2), "in_task": summary_ms(lat)}
    table = system.table_latency([ref for _, _, ref in refs])
    if table:
        out["table_first_ms"] = round(table[0] * 1000, 2)
    system.reset()
    return out


def scenario_memory(system, ctx: Context) -> dict:
    """RSS and PSS of the worker's process group after warm-up and after N no-op tasks. RSS
    counts a page that forked processes share in each of them; PSS splits it between them."""
    n = ctx.n(10_000, 2000)
    system.reset()
    worker, marks = _warm_worker(system, ctx, "memory")
    try:
        time.sleep(0.5)
        before, pss_before = group_rss_kb(worker.pid), group_rss_kb(worker.pid, "Pss")
        system.enqueue_many(n)
        system.mark(marks, "end")
        wait_marks(marks, ["end"], timeout=max(120, n / 20), worker=worker)
        time.sleep(0.5)
        after, pss_after = group_rss_kb(worker.pid), group_rss_kb(worker.pid, "Pss")
    finally:
        stop(worker)
    system.reset()
    return {
        "tasks": n,
        "rss_start_mb": round(before / 1024, 1),
        "rss_end_mb": round(after / 1024, 1),
        "growth_pct": round((after - before) / before * 100, 1),
        "pss_start_mb": round(pss_before / 1024, 1),
        "pss_end_mb": round(pss_after / 1024, 1),
    }


IO_TASKS = 2000
IO_SLEEP = 0.020  # seconds each I/O-bound task sleeps
IO_CONCURRENCY = 8


def scenario_io_drain(system, ctx: Context, pool: str | None = None) -> dict:
    """I/O-bound drain: IO_TASKS tasks that each sleep IO_SLEEP seconds, IO_CONCURRENCY at once
    (the limit is IO_CONCURRENCY / IO_SLEEP tasks/s); from the start mark to the end of the
    last task to end (each notes it: an end mark stored last may run while tasks taken
    before it still run). ``pool`` picks a system's kind of concurrency where it has several
    (Celery: prefork, threads)."""
    n = ctx.n(IO_TASKS, 400)
    system.reset()
    settle(system)
    marks = ctx.marks_file("io")
    system.mark(marks, "start")
    system.enqueue_io(n, marks)
    extra = {"pool": pool} if pool else {}
    worker = system.start_worker(ctx.log("io" + (f"-{pool}" if pool else "")), concurrency=IO_CONCURRENCY, **extra)
    try:
        got = wait_marks(marks, ["start"] + [f"io-{i}" for i in range(n)], timeout=max(120, n * IO_SLEEP * 2), worker=worker)
    finally:
        stop(worker)
    system.reset()
    elapsed = max(got.values()) - got["start"]
    limit = IO_CONCURRENCY / IO_SLEEP
    return {
        "tasks": n, "concurrency": IO_CONCURRENCY, "seconds": round(elapsed, 3), "tasks_per_s": round(n / elapsed, 1),
        "pct_of_limit": round(n / elapsed / limit * 100, 1),
    }


SCENARIOS = {
    "io_drain": scenario_io_drain,
    "enqueue": scenario_enqueue,
    "drain": scenario_drain,
    "latency": scenario_latency,
    "idle": scenario_idle,
    "backlog": scenario_backlog,
    "memory": scenario_memory,
}


def settle(system) -> None:
    """Start each scenario from a quiet disk: the previous one's writes are flushed and checkpointed."""
    system.checkpoint()
    os.sync()
    time.sleep(1.0)


def pg_checkpoint(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname=name, autocommit=True, **pg_params()) as conn:
        conn.execute("CHECKPOINT")


def sqlite_checkpoint(path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def main(make_system, extra: dict | None = None) -> None:
    """Parse the runner's arguments, run the scenarios asked for, write JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--measure-at", type=float, default=0)
    args = parser.parse_args()
    ctx = Context(args)
    scenarios = dict(SCENARIOS, **(extra or {}))
    results: dict = {}
    out = Path(args.out)

    def save() -> None:
        out.write_text(json.dumps(results, indent=2))

    try:
        system = make_system(ctx)
    except Exception as exc:
        results["error"] = f"setup failed: {exc.__class__.__name__}: {exc}"
        traceback.print_exc()
        save()
        sys.exit(1)
    for name in args.scenarios.split(","):
        started = time.monotonic()
        print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {name} ...", file=sys.stderr, flush=True)
        try:
            settle(system)
            results[name] = scenarios[name](system, ctx)
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
        results[name]["wall_s"] = round(time.monotonic() - started, 1)
        print(f"    {json.dumps(results[name])}", file=sys.stderr, flush=True)
        save()
    try:
        system.close()
    except Exception as exc:
        print(f"closing: {exc}", file=sys.stderr)
    save()
