"""dj_queue's runner (PostgreSQL, Python 3.12+, Django 6): ``manage.py dj_queue``
with its defaults; see projects/djqueue_bench/settings.py."""

from __future__ import annotations

import datetime as dt
import os
import sys

import common
from common import PROJECTS, Context, start


class System:
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        name = os.environ.setdefault("BENCH_PG_NAME", "bench_djqueue")
        common.pg_recreate(name)
        os.environ["DJANGO_SETTINGS_MODULE"] = "djqueue_bench.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from djqueue_bench import tasks

        self.tasks = tasks
        self.backend = tasks.noop.get_backend()

    def checkpoint(self) -> None:
        from django.db import connections

        connections.close_all()  # each scenario on a new connection (the server may have restarted)
        common.pg_checkpoint(os.environ["BENCH_PG_NAME"])

    def close(self) -> None:
        from django.db import connections

        connections.close_all()
        common.pg_drop(os.environ["BENCH_PG_NAME"])

    def start_worker(self, log, concurrency: int | None = None):
        env = {"BENCH_DJQUEUE_THREADS": str(concurrency)} if concurrency else {}
        return start([sys.executable, str(PROJECTS / "manage.py"), "dj_queue"], log, env)

    def reset(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE dj_queue_jobs CASCADE")

    def enqueue_one(self, i: int) -> None:
        self.tasks.noop.enqueue(i)

    def _bulk(self, task, first: int, n: int) -> None:
        for start_at in range(first, n, 10_000):
            self.backend.enqueue_all([(task, [i], {}) for i in range(start_at, min(n, start_at + 10_000))])

    def enqueue_bulk(self, n: int) -> None:
        self._bulk(self.tasks.noop, 0, n)

    enqueue_many = enqueue_bulk

    def enqueue_io(self, n: int, marks) -> None:
        self.backend.enqueue_all([(self.tasks.io, [str(marks), i], {}) for i in range(n)])

    def enqueue_future(self, n: int) -> None:
        from django.utils import timezone

        later = self.tasks.noop.using(run_after=timezone.now() + dt.timedelta(seconds=common.FAR_FUTURE_S))
        self._bulk(later, 0, n)

    def mark(self, path, label: str):
        return self.tasks.mark.enqueue(str(path), label).id

    def table_latency(self, refs):
        return None  # dj_queue keeps no start time once a job finished

    def extra_drain_figures(self) -> dict:
        return {}


if __name__ == "__main__":
    common.main(System)
