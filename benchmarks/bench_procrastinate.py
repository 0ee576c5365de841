"""Procrastinate's runner (PostgreSQL): ``procrastinate --app=procrastinate_bench.app worker``
with its defaults (concurrency 1, LISTEN/NOTIFY, 5 s polling fallback)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import common
from common import Context, start


class System:
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        name = os.environ.setdefault("BENCH_PG_NAME", "bench_procrastinate")
        common.pg_recreate(name)
        import procrastinate_bench

        self.bench = procrastinate_bench
        self.app = procrastinate_bench.app.open()
        self.app.schema_manager.apply_schema()

    def checkpoint(self) -> None:
        common.pg_checkpoint(os.environ["BENCH_PG_NAME"])

    def close(self) -> None:
        self.app.close()
        common.pg_drop(os.environ["BENCH_PG_NAME"])

    def start_worker(self, log, concurrency: int | None = None):
        cli = Path(sys.executable).with_name("procrastinate")
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        return start([str(cli), "--app=procrastinate_bench.app", "worker", *extra], log)

    def _sql(self, query: str) -> None:
        self.app.connector.get_sync_connector().execute_query(query)

    def reset(self) -> None:
        self._sql("TRUNCATE procrastinate_jobs CASCADE")

    def enqueue_one(self, i: int) -> None:
        self.bench.noop.defer(i=i)

    def enqueue_bulk(self, n: int) -> None:
        for first in range(0, n, 10_000):
            self.bench.noop.batch_defer(*({"i": i} for i in range(first, min(n, first + 10_000))))

    enqueue_many = enqueue_bulk

    def enqueue_io(self, n: int, marks) -> None:
        self.bench.io.batch_defer(*({"path": str(marks), "i": i} for i in range(n)))

    def enqueue_future(self, n: int) -> None:
        later = self.bench.noop.configure(schedule_in={"seconds": common.FAR_FUTURE_S})
        for first in range(0, n, 10_000):
            later.batch_defer(*({"i": i} for i in range(first, min(n, first + 10_000))))

    def mark(self, path, label: str):
        return self.bench.mark.defer(path=str(path), label=label)

    def table_latency(self, refs):
        return None

    def extra_drain_figures(self) -> dict:
        return {}


if __name__ == "__main__":
    common.main(System)
