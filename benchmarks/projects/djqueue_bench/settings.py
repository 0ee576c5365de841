"""dj_queue's benchmark project (Django 6 tasks): PostgreSQL, its documented
defaults (fork mode, one worker process with 3 threads, LISTEN/NOTIFY, SKIP
LOCKED) and the positive CONN_MAX_AGE its README recommends for throughput."""

import os

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["dj_queue", "djqueue_bench"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_PG_NAME"],
        "HOST": os.environ.get("BENCH_PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_PGPORT", "5432"),
        "USER": os.environ.get("BENCH_PGUSER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_PGPASSWORD", ""),
        "CONN_MAX_AGE": 60,
    }
}
DATABASE_ROUTERS = ["dj_queue.routers.DjQueueRouter"]
OPTIONS = {}
if os.environ.get("BENCH_DJQUEUE_THREADS"):  # the I/O-bound drain: one worker process with this many threads
    OPTIONS["workers"] = [{"threads": int(os.environ["BENCH_DJQUEUE_THREADS"])}]
TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend", "QUEUES": [], "OPTIONS": OPTIONS}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
