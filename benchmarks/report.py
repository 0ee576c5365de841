"""The one table: autotask's figures, each peer's, and the ratio to the best peer on the same database."""

from __future__ import annotations

import platform
import time

# Each database's columns: autotask's, then its peers' (a peer and where its results are: Celery
# keeps its tasks in Redis, so its figures stand beside both databases).
COLUMNS = [
    ("sqlite", [("huey", "sqlite"), ("celery", "redis")]),
    ("postgresql", [("procrastinate", "postgresql"), ("dj_queue", "postgresql"), ("celery", "redis")]),
]

# label, path into a system's results, which way is better (None: no ratio), path for the peers if different
ROWS = [
    ("enqueue: single call, µs", ("enqueue", "single_us"), "lower"),
    ("enqueue: bulk, µs per task", ("enqueue", "bulk_us"), "lower"),
    ("enqueue: bulk speed-up over single calls, x", ("enqueue", "bulk_speedup"), None),
    ("drain: tasks/s (start to end mark)", ("drain", "tasks_per_s"), "higher"),
    ("drain: tasks/s from the table", ("drain", "table_tasks_per_s"), None),
    ("drain: tasks per run (sized to about 2 s)", ("drain", "tasks"), None),
    ("pickup, idle worker: p50 ms (in task)", ("latency", "in_task", "p50_ms"), "lower"),
    ("pickup, idle worker: p95 ms (in task)", ("latency", "in_task", "p95_ms"), "lower"),
    ("pickup, idle worker: p50 ms (table)", ("latency", "table", "p50_ms"), None),
    ("pickup, idle worker: p95 ms (table)", ("latency", "table", "p95_ms"), None),
    ("pickup, companion: p50 ms (in task)", ("companion", "in_task", "p50_ms"), "lower", ("latency", "in_task", "p50_ms")),
    ("pickup, companion: p95 ms (in task)", ("companion", "in_task", "p95_ms"), "lower", ("latency", "in_task", "p95_ms")),
    ("pickup, companion: p50 ms (table)", ("companion", "table", "p50_ms"), None),
    ("pickup, companion: p95 ms (table)", ("companion", "table", "p95_ms"), None),
    ("after the quiet period: 1st task ms (in task)", ("idle", "first_ms"), "lower"),
    ("after the quiet period: 1st task ms (table)", ("idle", "table_first_ms"), None),
    ("after quiet, companion: 1st task ms (in task)", ("idle_companion", "first_ms"), "lower", ("idle", "first_ms")),
    ("backlog: tasks/s with not-yet-due rows", ("backlog", "tasks_per_s"), "higher"),
    ("backlog: ÷ drain tasks/s on an empty table", ("backlog_ratio",), "higher"),
    ("memory: worker RSS after warm-up, MB", ("memory", "rss_start_mb"), "lower"),
    ("memory: worker RSS after the tasks, MB", ("memory", "rss_end_mb"), "lower"),
    ("memory: growth, %", ("memory", "growth_pct"), None),
    ("memory: worker PSS after warm-up, MB", ("memory", "pss_start_mb"), "lower"),
    ("memory: worker PSS after the tasks, MB", ("memory", "pss_end_mb"), "lower"),
    ("schedule 1 s: started - due, p50 ms", ("schedules", "p50_ms"), None),
    ("schedule 1 s: started - due, p95 ms", ("schedules", "p95_ms"), None),
    ("I/O drain, 2,000 x 20 ms, 8 at once: tasks/s", ("io_drain", "tasks_per_s"), "higher"),
    ("I/O drain: % of the limit (400/s)", ("io_drain", "pct_of_limit"), "higher"),
    ("I/O drain, Celery's threads pool: tasks/s", ("io_drain_threads", "tasks_per_s"), None),
    ("scale-out: drain tasks/s, 2 processes", ("scaleout", "p2_tasks_per_s"), None),
    ("scale-out: speed-up over 1 process, 2 proc., x", ("scaleout", "p2_speedup"), None),
    ("scale-out: cores busy with 1 process (+ server)", ("scaleout", "p1_cores"), None),
    ("scale-out: speed-up the cores allow 2 proc., x", ("scaleout", "p2_ceiling"), None),
    ("scale-out: drain tasks/s, 4 processes", ("scaleout", "p4_tasks_per_s"), None),
    ("scale-out: speed-up over 1 process, 4 proc., x", ("scaleout", "p4_speedup"), None),
    ("drain, 10 lines + 2 records a task, output on: tasks/s", ("drain_output", "on_tasks_per_s"), None),
    ("drain, 10 lines + 2 records a task, output off: tasks/s", ("drain_output", "off_tasks_per_s"), None),
    ("pickup, priority 100 in a 10,000 drain: p50 ms", ("priority_latency", "p50_ms"), None),
    ("pickup, priority 100 in a 10,000 drain: p95 ms", ("priority_latency", "p95_ms"), None),
    ("memory: RSS per extra thread, MB", ("concurrency_memory", "per_thread_rss_mb"), None),
    ("memory: RSS per extra process, MB", ("concurrency_memory", "per_process_rss_mb"), None),
    ("memory: PSS per extra process, MB", ("concurrency_memory", "per_process_pss_mb"), None),
    ("memory: gunicorn x8 + companions, RSS MB", ("gunicorn_memory", "process_rss_mb"), None),
    ("memory: gunicorn x8 + host companion, RSS MB", ("gunicorn_memory", "host_rss_mb"), None),
    ("memory: gunicorn x8 + companions, PSS MB", ("gunicorn_memory", "process_pss_mb"), None),
    ("memory: gunicorn x8 + host companion, PSS MB", ("gunicorn_memory", "host_pss_mb"), None),
    ("dependencies: chain of 1,000, ms per link", ("dependencies", "chain_per_link_ms"), "lower"),
    ("dependencies: fan-in of 1,000, last end to start ms", ("dependencies", "fan_in_ms"), "lower"),
    ("dashboard data at 1M task rows: p50 ms", ("dashboard", "p50_ms"), None),
    ("dashboard data at 1M task rows: p95 ms", ("dashboard", "p95_ms"), None),
]


# Django's tasks framework: autotask's django.tasks path against the other Django 6 backends.
DJANGO_COLUMNS = [
    ("sqlite", [("django_tasks_db", "sqlite")]),
    ("postgresql", [("django_tasks_db", "postgresql"), ("dj_queue", "postgresql")]),
]
DJANGO_ROWS = [
    ("enqueue: task.enqueue(), µs", ("enqueue", "single_us"), "lower"),
    ("drain: tasks/s (start to end mark)", ("drain", "tasks_per_s"), "higher"),
    ("drain ÷ autotask's @delayed_task drain (same venv)", ("paths", "decorator_ratio"), None),
    ("same, django.tasks logger at WARNING in the worker", ("paths", "quiet_log_ratio"), None),
    ("pickup, idle worker: p50 ms (in task)", ("latency", "in_task", "p50_ms"), "lower"),
    ("pickup, idle worker: p95 ms (in task)", ("latency", "in_task", "p95_ms"), "lower"),
    ("after the quiet period: 1st task ms (in task)", ("idle", "first_ms"), "lower"),
]


# autotask on Celery (AUTOTASK_ENGINE = "celery") against plain Celery, on the same Redis.
CELERY_COLUMNS = [
    ("sqlite", [("celery", "redis")]),
    ("postgresql", [("celery", "redis")]),
]
CELERY_ROWS = [
    ("enqueue: single call, µs", ("enqueue", "single_us"), "lower"),
    ("drain: tasks/s (start to end mark)", ("drain", "tasks_per_s"), "higher"),
    ("pickup, idle worker: p50 ms (in task)", ("latency", "in_task", "p50_ms"), "lower"),
    ("pickup, idle worker: p95 ms (in task)", ("latency", "in_task", "p95_ms"), "lower"),
    ("after the quiet period: 1st task ms (in task)", ("idle", "first_ms"), "lower"),
]


def _get(result: dict, path: tuple) -> float | str | None:
    """The number at ``path``; "n/a" if the system or that scenario failed; None if not measured."""
    if "error" in result or "error" in result.get(path[0], {}):
        return "n/a"
    if path == ("backlog_ratio",):
        a, b = _get(result, ("backlog", "tasks_per_s")), _get(result, ("drain", "tasks_per_s"))
        return round(a / b, 2) if isinstance(a, float) and isinstance(b, float) else None
    value = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, (int, float)) else None


def _ratio(ours: float | None, theirs: float | None, better: str | None) -> float | None:
    """> 1: autotask is better (faster, smaller) by that factor; < 1: worse."""
    numbers = isinstance(ours, (int, float)) and isinstance(theirs, (int, float))
    if better is None or not numbers or ours <= 0 or theirs <= 0:
        return None
    return round(theirs / ours if better == "lower" else ours / theirs, 2)


def _table(results: dict, ours_name: str, columns: list, table_rows: list) -> list[dict]:
    rows = []
    for label, path, better, *peer_path in table_rows:
        peer_path = peer_path[0] if peer_path else path
        row = {"metric": label, "better": better}
        for db, peers in columns:
            ours = _get(results.get(ours_name, {}).get(db, {}), path)
            cells = {"autotask": ours}
            for peer, where in peers:  # a row of an autotask-only mode compares only where autotask has it
                shown = isinstance(ours, (int, float)) or peer_path == path
                cells[peer] = _get(results.get(peer, {}).get(where, {}), peer_path) if shown else None
            known = {p: v for p, v in cells.items() if p != "autotask" and isinstance(v, (int, float))}
            best = None
            if better and known:
                best = (min if better == "lower" else max)(known, key=known.get)
            row[db] = {**cells, "best_peer": best, "ratio": _ratio(ours, known.get(best), better) if best else None}
        rows.append(row)
    return rows


def build(results: dict, args, elapsed: float, versions: dict) -> dict:
    return {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "host": f"{platform.node()} ({platform.machine()}, {platform.python_version()})",
            "quick": args.quick,
            "idle_seconds": args.idle_seconds,
            "total_seconds": round(elapsed, 1),
            "versions": versions,
        },
        "table": _table(results, "autotask", COLUMNS, ROWS),
        "django_table": _table(results, "autotask_django", DJANGO_COLUMNS, DJANGO_ROWS),
        "celery_table": _table(results, "autotask_celery", CELERY_COLUMNS, CELERY_ROWS),
        "results": results,
    }


def _fmt(value) -> str:
    if value is None or isinstance(value, str):
        return value or "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _problems(results: dict) -> list[str]:
    notes = []
    for system, per_db in results.items():
        if system == "machine_busy_at_start":
            if per_db > 0.15:
                notes.append(f"warning: {per_db:.0%} of the CPU was busy before the run: figures are off")
            continue
        if isinstance(per_db, str):
            notes.append(per_db)
            continue
        for db, scenarios in per_db.items():
            if "error" in scenarios:
                notes.append(f"{system} on {db}: {scenarios['error']}")
            for name, value in scenarios.items():
                if isinstance(value, dict) and "error" in value:
                    notes.append(f"{system} on {db}, {name}: n/a: {value['error']}")
    return notes


def _render_table(table: list[dict], columns: list, head: list[str], widths: list[int]) -> list[str]:
    sqlite_width = sum(widths[1 : 2 + len(columns[0][1]) + 1]) + 3 * (len(columns[0][1]) + 1)
    postgres_width = sum(widths[2 + len(columns[0][1]) + 1 :]) + 3 * (len(columns[1][1]) + 1)
    lines = [
        " " * widths[0] + " | " + "SQLite".center(sqlite_width) + " | " + "PostgreSQL".center(postgres_width),
        " | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))),
    ]
    lines.append("-" * len(lines[1]))
    short = {"procrastinate": "procr.", "django_tasks_db": "dt-db"}
    for row in table:
        cells = [row["metric"]]
        for db, peers in columns:
            data = row[db]
            cells.append(_fmt(data["autotask"]))
            cells += [_fmt(data[p]) for p, _ in peers]
            ratio = data["ratio"]
            cells.append("-" if ratio is None else f"{ratio:.2f} {short.get(data['best_peer'], data['best_peer'])}")
        if all(c in ("-", "n/a") for c in cells[1:]):
            continue
        lines.append(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return lines


def render(document: dict) -> str:
    lines = _render_table(
        document["table"], COLUMNS,
        ["metric", "autotask", "huey", "celery", "ratio", "autotask", "procrast.", "dj_queue", "celery", "ratio"],
        [46, 9, 9, 9, 14, 9, 9, 9, 9, 18],
    )
    django_table = _render_table(
        document.get("django_table", []), DJANGO_COLUMNS,
        ["Django's tasks framework", "autotask", "dt-db", "ratio", "autotask", "dt-db", "dj_queue", "ratio"],
        [50, 9, 9, 12, 9, 9, 9, 14],
    )
    if "autotask_django" in document["results"]:
        lines += ["", *django_table]
    if "autotask_celery" in document["results"]:
        lines += ["", *_render_table(
            document.get("celery_table", []), CELERY_COLUMNS,
            ["autotask on Celery (Redis)", "autotask", "celery", "ratio", "autotask", "celery", "ratio"],
            [50, 9, 9, 12, 9, 9, 12],
        )]
    meta = document["meta"]
    lines += [
        "",
        "ratio: autotask against the best peer on the same database; > 1 = autotask better by that factor"
        " (faster, lower latency, less memory), < 1 = worse.",
        "in task = time.time() in the task - client time before the enqueue call; table = autotask's"
        " started_at - created_at. Drain: one worker, start/end mark tasks around the no-ops.",
        "companion rows (autotask only) are compared with the peers' dedicated workers."
        " celery: Redis as the broker (the same figures in both column groups).",
        "Django's tasks framework: autotask = autotask_django (Django's @task through AutotaskBackend), dt-db ="
        " django-tasks-db; all on Django 6, one worker each with its defaults.",
        "autotask on Celery: AUTOTASK_ENGINE = 'celery', one Celery worker with its defaults on the same Redis"
        " as plain Celery (whose figures stand in both column groups); the ratio is against plain Celery.",
        "versions: " + "; ".join(f"{name}: {v}" for name, v in meta.get("versions", {}).items()),
        f"quiet period: {meta['idle_seconds']:.0f} s. Run took {meta['total_seconds'] / 60:.1f} min"
        + (" (--quick: small counts)." if meta["quick"] else "."),
    ]
    lines += _problems(document["results"])
    return "\n".join(lines)
