"""Plain Celery tasks of benchmarks/celery_engine.py, beside autotask's: each counts itself in Redis."""

import os
import time

import redis
from celery import shared_task

_client = redis.Redis.from_url(os.environ.get("AUTOTASK_TEST_BROKER", "redis://127.0.0.1:6379/12"))


@shared_task(name="bench.noop", ignore_result=True)
def noop():
    now = repr(time.time())  # the drain is timed from the first start to the last end, as autotask's rows
    _client.pipeline().setnx("bench:first", now).set("bench:last", now).incr("bench:done").execute()


@shared_task(name="bench.noop_stamp", ignore_result=True)
def noop_stamp():
    _client.set("bench:started", repr(time.time()))
    _client.incr("bench:done")
