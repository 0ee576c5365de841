"""autotask's benchmark suite: autotask against Huey, Procrastinate, dj_queue and Celery;
its django.tasks path against django-tasks-db and dj_queue.

How to run
----------
From the repository root, with PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres)::

    python benchmarks/run.py                 # everything: about 30 minutes (+1-2 min for new virtualenvs)
    python benchmarks/run.py --quick         # small counts, 10 s quiet period: about 3 minutes
    python benchmarks/run.py --only autotask # autotask alone (also: huey, procrastinate, dj_queue, celery,
                                             # autotask_django, django_tasks_db, autotask_celery)
    python benchmarks/run.py --out /tmp/r.json --no-idle --keep

It needs Python 3.10+ (standard library only), Python 3.12+ for the Django 6
systems: dj_queue, django-tasks-db and autotask_django, autotask's django.tasks path
(found on PATH or in ~/.pyenv, or given with ``--python312``), and Redis on
127.0.0.1:6379 for Celery (its database 13, emptied by every reset; Celery is
skipped without it). It makes one
virtualenv per system under ``--cache-dir`` (default ~/.cache/autotask-bench):
autotask from this repository (``pip install <repo> psycopg[binary]``, reinstalled
from a copy of the tree on every run) and the peers from PyPI. PostgreSQL
databases it makes (dropping them first, and again at the end unless --keep):
autotask_bench* (also autotask_bench_celery*), bench_procrastinate*, bench_djqueue*, bench_djangotasksdb*; SQLite files live in a
temporary directory. Connection: the --pg-host/--pg-port/--pg-user options or
BENCH_PGHOST/PORT/USER/PASSWORD.

Django's tasks framework gets a table of its own: autotask_django (Django's ``@task``
through ``autotask.backends.AutotaskBackend``, the same project and ``run_autotask``
workers as autotask) beside django-tasks-db (``db_worker``) and dj_queue, all on
Django 6, compared on enqueue (``task.enqueue()``), drain and pickup; its row "drain
÷ @delayed_task drain" is the median ratio of five rounds that each drain the same
no-ops through ``@task`` and through ``@delayed_task`` in the same virtualenv, side by
side (``paths``), and the row below it does the same for a drain with the
``django.tasks`` logger at WARNING in the worker: Django's own log receivers' share
of the difference.

It prints the tables and writes every figure to benchmarks/results.json (or
``--out``). It reports, never asserts: a system or scenario that fails is shown
as "n/a: <reason>" and the run goes on.

What is measured (one worker process with its default concurrency, no-op tasks, unless said)
--------------------------------------------------------------------------------------------
enqueue   µs per call: 10,000 single calls (2,000 for peers; the median of 5 rounds)
          and a bulk call of the same count (autotask ``fn.bulk``, Procrastinate
          ``batch_defer``, dj_queue ``enqueue_all``; the median of 5 back to back, each on
          an emptied table, as the single calls' rounds: a first call right after the
          settled pause ran up to 40% slower); no worker running; each timed round starts
          with a ``gc.collect()``, so that it does not pay for the garbage of the rounds
          before. Speed-up = the two medians' ratio.
drain     tasks/s over stored tasks, the median of 3 runs: from the moment a
          "start" mark task ran to the moment an "end" mark task ran (stored just before
          and after the no-ops; marks write ``time.time()`` in the task). The same method
          for every system (dj_queue runs 3 threads, so its end mark may run a few tasks
          early); autotask's table figure (first started_at to last finished_at) too.
          A first run of 2,000 tasks sizes the measured ones to about 2 s each (2,000 to
          20,000 tasks): a fast system is not timed over a tenth of a second.
pickup    latency on an idle worker (1 s after a warm-up task): marks enqueued 100-200 ms apart;
          in-task time minus client time before the call (p50/p95 over 40). For
          autotask also started_at - created_at from the table, and on SQLite also the
          companion of the enqueuing process (woken through its pipe).
quiet     the same after 60 s of quiet (all systems' quiet minutes run at once,
          their measurements a few seconds apart): the first task's latency.
backlog   drain tasks/s (as many tasks as drain, the median of 3 runs, 1 if a run takes over
          10 s) with 200,000 not-yet-due tasks stored, and its ratio to drain
          (Huey's go straight into its schedule table: through the queue its consumer
          would move them one by one, at about 2,000/s).
memory    RSS (VmRSS summed over the worker's process group) after warm-up and after
          10,000 more tasks; also PSS, which splits the pages that forked processes share
          (a supervisor and the worker processes it forked: autotask, Celery, dj_queue)
          between them instead of counting them in each.
schedule  autotask only: a @periodic_task(seconds=1); started_at - due_at over 25 runs
          (in the main phase, on a quiet machine).
io drain  2,000 tasks that each sleep 20 ms, 8 at once (the limit: 400 tasks/s), start to end
          mark: autotask ``--threads 8``, Huey ``-w 8 -k thread``, Celery ``-c 8`` in the prefork
          pool and (a row of its own) in the threads pool, dj_queue one process of 8 threads,
          Procrastinate ``--concurrency 8``.
scale-out autotask only: the no-op drain (as many tasks as drain) with ``--processes`` 1, 2
          and 4, and the speed-up over one.
priority  autotask only: pickup (in task) of priority-100 marks stored 20-40 ms apart while
          10,000 no-op tasks of priority 0 drain (one worker, default settings), over the marks
          that ran before the no-ops' end mark.
threads   autotask only: RSS and PSS (shared pages split between processes) of the worker's
          group after 200 I/O-bound tasks with 1 thread, 8 threads and 2 processes: per extra
          thread and per extra process.
gunicorn  autotask only, SQLite: a real gunicorn with 8 workers of the benchmark project and
          their companions, ``AUTOTASK_COMPANION_SCOPE`` "process" (8 companions) and "host" (1):
          total RSS and PSS of the group once the companions idle.
Celery (Redis, its defaults: the prefork pool with one child per CPU) joins every row it has
(it has no bulk enqueue, no table, no not-yet-due backlog in the broker: a task with an ETA is
handed to a worker at once); its figures stand in both column groups.
autotask on Celery (autotask_celery, a table of its own) is autotask's project with
          ``AUTOTASK_ENGINE = "celery"``, run by ``celery -A autotask_bench.celery_app worker``
          with Celery's defaults on the same Redis (its databases 14 and 15), beside plain Celery:
          enqueue (the row stored and committed, then its message sent), drain, pickup, idle;
          a task's row is written four times (the call, its hand-over mark, the claim, the record).
dependencies autotask only: after= read from the table: a chain of 1,000 no-ops stored first,
          each waiting for the one before (first start to last end, per link; target < 10 ms),
          and one no-op waiting for 1,000 (last dependency's end to its start; target < 20 ms).
dashboard autotask only: the admin dashboard's data endpoint (admin:autotask_dashboard_data)
          with 1,000,000 task rows (--quick: 200,000; 85% done over a day, 7% waiting, 5%
          failed, 3% cancelled), 4 workers, 20 schedules and 2 hours of per-minute figures;
          p50/p95 of 30 GETs through Django's test client as a logged-in superuser, after
          3 warm-up GETs (projects/dashboard_client.py). PostgreSQL after VACUUM ANALYZE.

Each scenario starts on a settled disk (CHECKPOINT or wal_checkpoint, then sync), and
the systems run one after another, except the quiet period, which all spend at once.
Files: run.py (this driver), report.py (the table), common.py (processes and the
scenarios, shared by the runners), bench_<system>.py (one runner per system, run in
its virtualenv), projects/ (each system's app, settings and tasks).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# The peers, pinned to the versions this suite was written against.
PEERS = {
    "huey": {"requirements": ["huey==3.5.4"], "runner": "bench_huey.py", "dbs": ["sqlite"]},
    "procrastinate": {
        "requirements": ["procrastinate==3.10.0", "psycopg[binary]"],
        "runner": "bench_procrastinate.py",
        "dbs": ["postgresql"],
    },
    "dj_queue": {
        "requirements": ["dj-queue[postgres]==0.14.2", "psycopg[binary]"],
        "runner": "bench_djqueue.py",
        "dbs": ["postgresql"],
        "python312": True,
    },
    # Redis as the broker: no database of autotask's; shown beside both databases.
    "celery": {"requirements": ["celery[redis]==5.7.0"], "runner": "bench_celery.py", "dbs": ["redis"],
               "scenarios": ["io_drain_threads"]},
}
# Django 6's tasks framework: django-tasks-db (its ORM backend) beside dj_queue, both with Django's @task.
PEERS["django_tasks_db"] = {
    "requirements": ["django-tasks-db==0.13.0", "Django>=6.0,<7", "psycopg[binary]"],
    "runner": "bench_djangotasksdb.py",
    "dbs": ["sqlite", "postgresql"],
    "python312": True,
    # The rows it is compared on: its backlog alone would store 200,000 tasks one by one
    # (it has no bulk call), at a commit each.
    "only_scenarios": ["latency", "enqueue", "drain"],
}
AUTOTASK = {
    "requirements": ["psycopg[binary]", "gunicorn"], "runner": "bench_autotask.py", "dbs": ["sqlite", "postgresql"],
}
# autotask's django.tasks path (AutotaskBackend, Django 6): its own virtualenv, the same project and workers.
AUTOTASK_DJANGO = {
    "requirements": ["Django>=6.0,<7", "psycopg[binary]"],
    "runner": "bench_autotask_django.py",
    "dbs": ["sqlite", "postgresql"],
    "python312": True,
    "only_scenarios": ["latency", "enqueue", "drain", "paths"],
}
# autotask on Celery (AUTOTASK_ENGINE = "celery"): the same project, run by Celery workers with
# Celery's defaults on the same Redis as plain Celery; compared with plain Celery's rows.
AUTOTASK_CELERY = {
    "requirements": ["psycopg[binary]", *PEERS["celery"]["requirements"]],
    "runner": "bench_autotask_celery.py",
    "dbs": ["sqlite", "postgresql"],
    "only_scenarios": ["latency", "enqueue", "drain"],
}
SYSTEMS = {"autotask": AUTOTASK, "autotask_django": AUTOTASK_DJANGO, "autotask_celery": AUTOTASK_CELERY, **PEERS}
MAIN_SCENARIOS = ["latency", "enqueue", "drain", "backlog", "memory", "io_drain"]
# autotask only: worker processes side by side, pickup under load, memory of threads, processes, companions.
AUTOTASK_SCENARIOS = ["scaleout", "priority_latency", "concurrency_memory", "drain_output", "dependencies"]

_running: list[subprocess.Popen] = []


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- virtualenvs -----------------------------------------------------------------------


def find_python312(given: str | None) -> str | None:
    candidates = [given] if given else []
    candidates += [sys.executable, shutil.which("python3.13"), shutil.which("python3.12")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python")), reverse=True)
    for python in filter(None, candidates):
        try:
            subprocess.run([python, "-c", "import sys, venv; assert sys.version_info >= (3, 12)"], check=True,
                           capture_output=True, timeout=30)
            return python
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def make_venv(path: Path, python: str, requirements: list[str], always: list[str] = ()) -> Path:
    """A virtualenv with ``requirements`` (installed once) and ``always`` (reinstalled each run)."""
    marker = path / ".bench-requirements"
    wanted = " ".join(requirements)
    if not (marker.exists() and marker.read_text() == wanted):
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(path)], check=True, capture_output=True)
        pip(path, list(requirements) + list(always))
        marker.write_text(wanted)
    elif always:
        pip(path, ["--no-deps", "--force-reinstall", *always])
    return path / "bin" / "python"


def pip(venv: Path, args: list[str]) -> None:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        lines = [l for l in done.stderr.splitlines() if l.strip() and not l.startswith("WARNING")]
        raise RuntimeError("pip install failed: " + (lines[-1] if lines else f"exit {done.returncode}"))


def autotask_source(workdir: Path) -> Path:
    """A copy of the repository to install from (a build in place would write build/ into the tree)."""
    copy = workdir / "autotask-src"
    ignore = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "benchmarks", "tests")
    shutil.copytree(REPO, copy, ignore=ignore)
    return copy


# -- running a system's runner -------------------------------------------------------------


def kill_group(proc: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def kill_leftovers(pidfile: Path) -> None:
    """Process groups a runner started and did not stop (it crashed or was killed)."""
    if not pidfile.exists():
        return
    for line in pidfile.read_text().split():
        pid = int(line)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "autotask-bench" in cmdline or str(HERE) in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_runner(label: str, python: Path, runner: str, db: str, scenarios: list[str], workdir: Path,
               args: argparse.Namespace, env: dict | None = None, extra: list[str] = (), timeout: float = 600) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    out, pidfile = workdir / "result.json", workdir / "pids.txt"
    cmd = [str(python), str(HERE / runner), "--db", db, "--scenarios", ",".join(scenarios),
           "--workdir", str(workdir), "--out", str(out), "--idle-seconds", str(args.idle_seconds), *extra]
    if args.quick:
        cmd.append("--quick")
    full_env = dict(os.environ, BENCH_PIDFILE=str(pidfile), PYTHONUNBUFFERED="1", BENCH_KEEP="1" if args.keep else "0")
    full_env.update(env or {})
    full_env.update({k: v for k, v in pg_env(args).items()})
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=workdir)
    _running.append(proc)
    tail: list[str] = []

    def echo() -> None:
        with open(workdir / "runner.log", "w") as f:
            for line in proc.stderr:
                f.write(line)
                tail.append(line.rstrip())
                del tail[:-20]
                if line.startswith("["):
                    log(f"{label}: {line.strip()[11:]}")

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{label}: timed out after {timeout:.0f} s, stopping it")
        kill_group(proc, grace=10)
    finally:
        kill_group(proc, grace=10)
        kill_leftovers(pidfile)
        _running.remove(proc)
        reader.join(5)
    result = json.loads(out.read_text()) if out.exists() else {}
    if proc.returncode and "error" not in result and not result:
        reason = next((l for l in reversed(tail) if l.strip()), f"exit code {proc.returncode}")
        result["error"] = f"runner failed: {reason}"
    if proc.returncode == -signal.SIGKILL or proc.returncode == -signal.SIGTERM:
        result.setdefault("error", f"timed out after {timeout:.0f} s")
    return result


def pg_env(args: argparse.Namespace) -> dict:
    env = {"BENCH_PGHOST": args.pg_host, "BENCH_PGPORT": str(args.pg_port), "BENCH_PGUSER": args.pg_user}
    if os.environ.get("BENCH_PGPASSWORD"):
        env["BENCH_PGPASSWORD"] = os.environ["BENCH_PGPASSWORD"]
    return env


def cpu_busy(seconds: float = 2.0) -> float:
    """The share of the machine's CPU time in use over ``seconds`` (0-1), from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
        return (busy1 - busy0) / max(1, total1 - total0)
    except OSError:
        return 0.0


def pg_reachable(args: argparse.Namespace) -> bool:
    try:
        socket.create_connection((args.pg_host, args.pg_port), timeout=3).close()
        return True
    except OSError:
        return False


# -- the run ---------------------------------------------------------------------------------


def installed_versions(python: Path) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "for p in ('autotask', 'huey', 'procrastinate', 'dj-queue', 'django-tasks-db', 'celery', 'redis', 'Django',"
        " 'psycopg'):\n"
        "    try: print(p, m.version(p), end=', ')\n"
        "    except m.PackageNotFoundError: pass\n"
        "print('Python', sys.version.split()[0])"
    )
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True).stdout.strip()


def setup(args: argparse.Namespace, workdir: Path, versions: dict) -> dict:
    """Every selected system's python, or the reason it can't run."""
    cache = Path(args.cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    pythons: dict[str, Path | str] = {}
    source = None
    for name in args.only:
        t = time.monotonic()
        try:
            if name == "autotask":
                source = source or str(autotask_source(workdir))
                pythons[name] = make_venv(cache / f"venv-autotask-py{sys.version_info[0]}{sys.version_info[1]}",
                                          sys.executable, AUTOTASK["requirements"], always=[source])
            else:
                spec = SYSTEMS[name]
                python = sys.executable
                if spec.get("python312"):
                    python = find_python312(args.python312)
                    if python is None:
                        raise RuntimeError("no Python 3.12+ found (give one with --python312)")
                always = []
                if name in ("autotask_django", "autotask_celery"):
                    source = source or str(autotask_source(workdir))
                    always = [source]
                pythons[name] = make_venv(cache / f"venv-{name}", python, spec["requirements"], always=always)
            versions[name] = installed_versions(pythons[name])
            log(f"{name}: virtualenv ready ({time.monotonic() - t:.0f} s): {versions[name]}")
        except Exception as exc:
            pythons[name] = f"n/a: {exc}"
            log(f"{name}: {pythons[name]}")
    return pythons


def plan(args: argparse.Namespace, pythons: dict) -> list[tuple[str, str]]:
    runs = []
    for name in args.only:
        spec = SYSTEMS[name]
        for db in spec["dbs"]:
            if db != "redis" and db not in args.dbs:
                continue
            if (db == "redis" or name == "autotask_celery") and not redis_reachable():
                continue  # Celery's broker: these runs are skipped without it
            runs.append((name, db))
    return runs


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=3).close()
        return True
    except OSError:
        return False


def quiet_phase(args, pythons, runs, workdir, results) -> None:
    """Every system's quiet period at once; measurements staggered."""
    jobs = []
    for name, db in runs:
        scenario_sets = [("idle", "idle")]
        if name == "autotask":
            if db == "sqlite":
                scenario_sets.append(("idle_companion", "idle_companion"))
        for key, scenario in scenario_sets:
            jobs.append((name, db, key, scenario))
    setup_allowance = 25
    start = time.time()
    threads = []
    measuring = 0
    for name, db, key, scenario in jobs:
        if isinstance(pythons[name], str):
            continue
        spec = SYSTEMS[name]
        extra = ["--measure-at", str(start + setup_allowance + args.idle_seconds + 3 * measuring)]
        measuring += 1
        env = {"BENCH_PG_NAME": f"{pg_prefix(name)}_{key}"}
        target = results.setdefault(name, {}).setdefault(db, {})

        def job(name=name, db=db, key=key, scenario=scenario, spec=spec, extra=extra, env=env, target=target):
            result = run_runner(f"{name}/{db}/{key}", pythons[name], spec["runner"], db, [scenario],
                                workdir / f"{name}-{db}-{key}", args, env, extra, timeout=args.idle_seconds + 240)
            target[key] = result.get(scenario) or {"error": result.get("error", "no result")}

        threads.append(threading.Thread(target=job))
    log(f"quiet phase: {len(threads)} runs at once, {args.idle_seconds:.0f} s of quiet each")
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def pg_prefix(name: str) -> str:
    return {
        "autotask": "autotask_bench", "autotask_django": "autotask_bench_django", "autotask_celery": "autotask_bench_celery",
        "procrastinate": "bench_procrastinate", "dj_queue": "bench_djqueue", "django_tasks_db": "bench_djangotasksdb",
    }.get(name, name)


def main_phase(args, pythons, runs, workdir, results) -> None:
    for name, db in runs:
        target = results.setdefault(name, {}).setdefault(db, {})
        if isinstance(pythons[name], str):
            target["error"] = pythons[name]
            continue
        spec = SYSTEMS[name]
        # "only_scenarios" replaces the main scenarios, "scenarios" adds to them.
        scenarios = list(spec.get("only_scenarios", MAIN_SCENARIOS)) + spec.get("scenarios", [])
        if name == "autotask":
            if db == "sqlite":
                scenarios.insert(1, "companion")
            # On a quiet machine: in the quiet phase, the others' set-up (databases
            # made, migrated, checkpointed) once delayed a run by 2 s.
            scenarios.append("schedules")
            scenarios += AUTOTASK_SCENARIOS + (["gunicorn_memory"] if db == "sqlite" else [])
            scenarios.append("dashboard")  # last: it fills the table with a million rows
        result = run_runner(f"{name}/{db}", pythons[name], spec["runner"], db, scenarios, workdir / f"{name}-{db}",
                            args, {"BENCH_PG_NAME": pg_prefix(name)}, timeout=args.runner_timeout)
        if "error" in result and len(result) == 1:
            result["error"] = result["error"] if result["error"].startswith("n/a") else f"n/a: {result['error']}"
        target.update(result)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SYSTEMS),
                        help=f"comma-separated systems ({', '.join(SYSTEMS)})")
    parser.add_argument("--db", dest="dbs", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--quick", action="store_true", help="small counts and a 10 s quiet period, for iterating")
    parser.add_argument("--no-idle", action="store_true", help="skip the quiet-period phase")
    parser.add_argument("--idle-seconds", type=float, default=None, help="quiet period (default 60, 10 with --quick)")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    parser.add_argument("--cache-dir", default=os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "autotask-bench"))
    parser.add_argument("--python312",
                        help="a Python 3.12+ for the Django 6 systems (dj_queue, django_tasks_db, autotask_django)")
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PGUSER", "postgres"))
    parser.add_argument("--runner-timeout", type=float, default=900, help="seconds one system's main run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = parser.parse_args()
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    args.dbs = [d.strip() for d in args.dbs.split(",") if d.strip()]
    if args.idle_seconds is None:
        args.idle_seconds = 10.0 if args.quick else 60.0
    return args


def main() -> int:
    args = parse_args()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="autotask-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict = {}
    versions: dict = {}
    try:
        log(f"work directory {workdir}")
        busy = cpu_busy()
        results["machine_busy_at_start"] = round(busy, 2)
        if busy > 0.15:
            log(f"warning: {busy:.0%} of the CPU is in use before the run starts: figures will be off")
        if "postgresql" in args.dbs and not pg_reachable(args):
            log(f"PostgreSQL is not reachable on {args.pg_host}:{args.pg_port}: skipping it")
            args.dbs.remove("postgresql")
            results["note"] = "n/a: PostgreSQL not reachable"
        pythons = setup(args, workdir, versions)
        runs = plan(args, pythons)
        if not args.no_idle:
            quiet_phase(args, pythons, runs, workdir, results)
        main_phase(args, pythons, runs, workdir, results)
        for name, python in pythons.items():
            if isinstance(python, str):
                for db in SYSTEMS[name]["dbs"]:
                    results.setdefault(name, {}).setdefault(db, {})["error"] = python
    finally:
        for proc in list(_running):
            kill_group(proc, grace=5)
        for pidfile in workdir.glob("*/pids.txt"):
            kill_leftovers(pidfile)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - began
    document = report.build(results, args, elapsed, versions)
    Path(args.out).write_text(json.dumps(document, indent=2, default=str))
    print()
    print(report.render(document))
    log(f"total {elapsed / 60:.1f} min; figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
