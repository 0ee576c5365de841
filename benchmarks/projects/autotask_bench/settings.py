"""autotask's benchmark project: defaults for every AUTOTASK_* setting but IS_ACTIVE.

Environment: BENCH_DB (sqlite | postgresql), BENCH_SQLITE_PATH, BENCH_PG_NAME,
BENCH_PGHOST/PORT/USER/PASSWORD; BENCH_SCHEDULES=1 adds the app with the
@periodic_task; BENCH_CLIENT=1 marks the measuring process, which must not own
a companion worker (the only AUTOTASK_* setting changed, and only there);
BENCH_DJANGO_TASKS_LOG=WARNING sets the ``django.tasks`` logger's level (Django's own
receivers of its task signals then make no log records: docs/topics/django-tasks.rst);
BENCH_ENGINE=celery runs the tasks in Celery workers (``celery_app.py``; Redis at
BENCH_REDIS_URL, Celery's defaults otherwise).
TASKS serves the django.tasks path (``tasks_django.py``) where Django's tasks
framework is installed (Django 6); elsewhere Django ignores it.
"""

import os

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["autotask", "autotask_bench"]
if os.environ.get("BENCH_SCHEDULES") == "1":
    INSTALLED_APPS.append("autotask_sched")

if os.environ.get("BENCH_DB") == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_PG_NAME"],
            "HOST": os.environ.get("BENCH_PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PGPORT", "5432"),
            "USER": os.environ.get("BENCH_PGUSER", "postgres"),
            "PASSWORD": os.environ.get("BENCH_PGPASSWORD", ""),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BENCH_SQLITE_PATH"]}}

TASKS = {"default": {"BACKEND": "autotask.backends.AutotaskBackend"}}

AUTOTASK_IS_ACTIVE = True
AUTOTASK_OUTPUT = os.environ.get("BENCH_OUTPUT", "1") == "1"  # the drain_output scenario turns it off
AUTOTASK_COMPANION_SCOPE = os.environ.get("BENCH_COMPANION_SCOPE", "process")  # the gunicorn memory scenario sets it
if os.environ.get("BENCH_CLIENT") == "1":
    AUTOTASK_WORKER_AUTOSTART = False
if os.environ.get("BENCH_DJANGO_TASKS_LOG"):
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"django.tasks": {"level": os.environ["BENCH_DJANGO_TASKS_LOG"]}},
    }
if os.environ.get("BENCH_ENGINE") == "celery":
    AUTOTASK_ENGINE = "celery"
    AUTOTASK_CELERY_APP = "autotask_bench.celery_app.app"
    CELERY_BROKER_URL = os.environ["BENCH_REDIS_URL"]
    CELERY_TASK_DEFAULT_QUEUE = "default"  # autotask's default queue: the worker takes it without -Q
    CELERY_DB_REUSE_MAX = 1000  # as autotask.W011 asks: a database connection kept across tasks
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
