"""Huey's runner (SQLite): ``huey_consumer huey_bench.huey`` with its defaults
(one worker thread; polling from 0.1 s, backing off x1.15 up to 10 s when idle)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import common
from common import FAR_FUTURE_S, Context, start


class System:
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        path = ctx.workdir / "huey.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.environ["BENCH_SQLITE_PATH"] = str(path)
        import huey_bench

        self.app = huey_bench

    def close(self) -> None:
        pass

    def checkpoint(self) -> None:
        common.sqlite_checkpoint(os.environ["BENCH_SQLITE_PATH"])

    def start_worker(self, log, concurrency: int | None = None):
        consumer = Path(sys.executable).with_name("huey_consumer")
        extra = ["-w", str(concurrency), "-k", "thread"] if concurrency else []
        return start([str(consumer), "huey_bench.huey", *extra], log)

    def reset(self) -> None:
        self.app.huey.flush()

    def enqueue_one(self, i: int) -> None:
        self.app.noop(i)

    def enqueue_many(self, n: int) -> None:  # Huey has no bulk enqueue
        for i in range(n):
            self.app.noop(i)

    def enqueue_io(self, n: int, marks) -> None:
        for i in range(n):
            self.app.io(str(marks), i)

    def enqueue_future(self, n: int) -> None:
        """Straight into the schedule table, as ``Huey.add_schedule`` does, but in one
        transaction: ``noop.schedule()`` would go through the queue, and the consumer
        moves each task to the schedule one by one (about 2,000 a second)."""
        huey = self.app.huey
        rows = []
        for i in range(n):
            task = self.app.noop.s(i, delay=FAR_FUTURE_S)
            rows.append((huey.storage.name, huey.serialize_task(task), task.eta.timestamp()))
        with huey.storage.db(commit=True) as cursor:
            cursor.executemany("insert into schedule (queue, data, timestamp) values (?, ?, ?)", rows)

    def mark(self, path, label: str):
        return self.app.mark(str(path), label).id

    def table_latency(self, refs):
        return None  # Huey records no start time

    def extra_drain_figures(self) -> dict:
        return {}


if __name__ == "__main__":
    common.main(System)
