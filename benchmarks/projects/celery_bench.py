"""Celery's benchmark app: Redis as the broker (BENCH_REDIS_URL), no result backend, defaults."""

import os
import time

from celery import Celery

from bench_marks import write_mark

app = Celery("celery_bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))


@app.task
def noop(i):
    return None


@app.task
def mark(path, label):
    write_mark(path, label)


@app.task
def io(path, i):
    time.sleep(0.020)
    write_mark(path, f"io-{i}")
