"""Procrastinate's benchmark app: PsycopgConnector (LISTEN/NOTIFY on) and defaults."""

import os
import time

from procrastinate import App, PsycopgConnector

from bench_marks import write_mark

app = App(
    connector=PsycopgConnector(
        kwargs={
            "dbname": os.environ["BENCH_PG_NAME"],
            "host": os.environ.get("BENCH_PGHOST", "127.0.0.1"),
            "port": int(os.environ.get("BENCH_PGPORT", "5432")),
            "user": os.environ.get("BENCH_PGUSER", "postgres"),
            "password": os.environ.get("BENCH_PGPASSWORD", ""),
        }
    )
)


@app.task(name="noop")
def noop(i):
    return None


@app.task(name="mark")
def mark(path, label):
    write_mark(path, label)


@app.task(name="io")
def io(path, i):
    time.sleep(0.020)
    write_mark(path, f"io-{i}")
