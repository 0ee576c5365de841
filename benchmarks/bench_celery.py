"""Celery's runner (Redis): ``celery -A celery_bench worker`` with its defaults (the prefork
pool, one child per CPU); the I/O-bound drain with ``-c 8`` in the prefork and in the threads pool.

The broker is the Redis on 127.0.0.1:6379 (BENCH_REDIS_URL), in a database of its own that
every reset empties. Celery stores no task in a database, so its figures stand beside both
the SQLite and the PostgreSQL columns.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import common
from common import Context, scenario_io_drain, start


class System:
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
        import celery_bench

        self.bench = celery_bench
        self.reset()

    def checkpoint(self) -> None:
        pass  # the broker keeps its queue in memory

    def close(self) -> None:
        self.reset()

    def start_worker(self, log, concurrency: int | None = None, pool: str | None = None):
        cli = Path(sys.executable).with_name("celery")
        command = [str(cli), "-A", "celery_bench", "worker", "-l", "warning"]
        if concurrency:
            command += ["-c", str(concurrency)]
        if pool:
            command += ["-P", pool]
        return start(command, log)

    def reset(self) -> None:
        with self.bench.app.connection_for_write() as connection:
            connection.default_channel.client.flushdb()

    def enqueue_one(self, i: int) -> None:
        self.bench.noop.delay(i)

    def enqueue_many(self, n: int) -> None:  # Celery sends one message per task, also for a group
        for i in range(n):
            self.bench.noop.delay(i)

    def enqueue_io(self, n: int, marks) -> None:
        for i in range(n):
            self.bench.io.delay(str(marks), i)

    def enqueue_future(self, n: int) -> None:
        raise RuntimeError("Celery hands a task with an ETA to a worker at once, which holds it in memory until due")

    def mark(self, path, label: str):
        return self.bench.mark.delay(str(path), label).id

    def table_latency(self, refs):
        return None

    def extra_drain_figures(self) -> dict:
        return {}


if __name__ == "__main__":
    common.main(
        System,
        {
            "io_drain": lambda system, ctx: scenario_io_drain(system, ctx, pool="prefork"),
            "io_drain_threads": lambda system, ctx: scenario_io_drain(system, ctx, pool="threads"),
        },
    )
