"""django-tasks-db's runner (SQLite or PostgreSQL, Python 3.12+, Django 6): ``manage.py
db_worker`` with its defaults; see projects/djangotasksdb_bench/settings.py."""

from __future__ import annotations

import os
import sys

import common
from common import PROJECTS, Context, start


class System:
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        env = {"DJANGO_SETTINGS_MODULE": "djangotasksdb_bench.settings", "BENCH_DB": ctx.db}
        if ctx.db == "sqlite":
            path = ctx.workdir / "djangotasksdb.sqlite3"
            for suffix in ("", "-wal", "-shm", "-journal"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            env["BENCH_SQLITE_PATH"] = str(path)
        else:
            env["BENCH_PG_NAME"] = os.environ.get("BENCH_PG_NAME", "bench_djangotasksdb")
            common.pg_recreate(env["BENCH_PG_NAME"])
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django_tasks_db.models import DBTaskResult
        from djangotasksdb_bench import tasks

        self.DBTaskResult, self.tasks = DBTaskResult, tasks

    def checkpoint(self) -> None:
        from django.db import connections

        connections.close_all()  # each scenario on a new connection (the server may have restarted)
        if self.ctx.db == "sqlite":
            common.sqlite_checkpoint(os.environ["BENCH_SQLITE_PATH"])
        else:
            common.pg_checkpoint(os.environ["BENCH_PG_NAME"])

    def close(self) -> None:
        from django.db import connections

        connections.close_all()
        if self.ctx.db == "postgresql":
            common.pg_drop(os.environ["BENCH_PG_NAME"])

    def start_worker(self, log):
        return start([sys.executable, str(PROJECTS / "manage.py"), "db_worker"], log)

    def reset(self) -> None:
        self.DBTaskResult.objects.all().delete()

    def enqueue_one(self, i: int) -> None:
        self.tasks.noop.enqueue(i)

    def enqueue_many(self, n: int) -> None:
        from django.db import transaction

        with transaction.atomic():
            for i in range(n):
                self.tasks.noop.enqueue(i)

    def mark(self, path, label: str):
        return self.tasks.mark.enqueue(str(path), label).id

    def table_latency(self, refs):
        return None  # the in-task figures are the comparison

    def extra_drain_figures(self) -> dict:
        return {}


if __name__ == "__main__":
    common.main(System)
