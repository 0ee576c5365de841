"""django-tasks-db's benchmark project (Django 6 tasks): SQLite or PostgreSQL, its
documented defaults (``manage.py db_worker``: one task at a time, a poll every second)."""

import os

SECRET_KEY = "benchmark"
USE_TZ = True
INSTALLED_APPS = ["django_tasks_db", "djangotasksdb_bench"]
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
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
