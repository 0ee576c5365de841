"""autotask on Celery's runner: autotask's benchmark project with ``AUTOTASK_ENGINE = "celery"``.

The same tasks, calls and table as ``bench_autotask.py``; the workers are ``celery -A
autotask_bench.celery_app worker`` with Celery's defaults (the prefork pool, one child per
CPU), as plain Celery's in ``bench_celery.py``, on the same Redis (BENCH_REDIS_URL): a
Redis database per benchmark database, 14 and 15, that every reset empties (the quiet
phase runs both at once, and one's worker would take the other's messages). Each task is
stored in the table on the caller's connection, handed to Redis after the commit, claimed
and recorded in the table by the Celery worker: what the database costs is this runner's
figures beside plain Celery's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import common
from bench_autotask import System as AutotaskSystem
from common import Context, start


class System(AutotaskSystem):
    ENQUEUE_N = 2000

    def __init__(self, ctx: Context) -> None:
        redis_db = 14 if ctx.db == "sqlite" else 15
        os.environ.setdefault("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
        os.environ["BENCH_ENGINE"] = "celery"
        super().__init__(ctx)

    def start_worker(self, log, concurrency: int | None = None, processes: int | None = None, **env: str):
        command = [str(Path(sys.executable).with_name("celery")), "-A", "autotask_bench.celery_app", "worker", "-l", "warning"]
        if concurrency:
            command += ["-c", str(concurrency)]
        return start(command, log, self.worker_env(**env))

    def reset(self) -> None:
        super().reset()
        from autotask_bench.celery_app import app

        with app.connection_for_write() as connection:
            connection.default_channel.client.flushdb()


if __name__ == "__main__":
    common.main(System)
