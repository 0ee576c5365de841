"""Plain Celery tasks of benchmarks/celery_engine.py, beside autotask's: each counts itself in Redis."""

import os
import time

import redis
from celery import shared_task

_client = redis.Redis.from_url(os.environ.get("AUTOTASK_TEST_BROKER", "redis://127.0.0.1:6379/12"))


@shared_task(name="bench.noop", ignore_result=True)
def noop():
    _client.incr("bench:done")


@shared_task(name="bench.noop_stamp", ignore_result=True)
def noop_stamp():
    _client.set("bench:started", repr(time.time()))
    _client.incr("bench:done")
