"""Huey's benchmark app: a plain SqliteHuey with its documented defaults."""

import os
import time

from huey import SqliteHuey

from bench_marks import write_mark

huey = SqliteHuey("bench", filename=os.environ["BENCH_SQLITE_PATH"])


@huey.task()
def noop(i):
    return None


@huey.task()
def mark(path, label):
    write_mark(path, label)


@huey.task()
def io(path, i):
    time.sleep(0.020)
    write_mark(path, f"io-{i}")
