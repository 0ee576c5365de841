"""Settings for the test suite. ``AUTOTASK_TEST_DB`` picks the database: sqlite (default), postgresql, mysql."""

import os
from importlib.util import find_spec
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DB = os.environ.get("AUTOTASK_TEST_DB", "sqlite")
RUN_DIR = Path(os.environ.get("AUTOTASK_TEST_DIR", "/tmp/autotask-tests"))

SECRET_KEY = "tests"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = os.environ.get("AUTOTASK_TEST_USE_TZ", "1") == "1"
TIME_ZONE = "Europe/Berlin"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "autotask",
    "tests",
    "tests.otherapp",
]
# Django's tasks framework: django.tasks on Django 6, the django-tasks backport on Django 5.2
# (an app there). Without either, tests/test_backends.py is skipped (on a laptop; CI has one).
if find_spec("django.tasks") is None and find_spec("django_tasks") is not None:
    INSTALLED_APPS.append("django_tasks")
TASKS = {
    "default": {"BACKEND": "autotask.backends.AutotaskBackend", "QUEUES": []},
    "retrying": {"BACKEND": "autotask.backends.AutotaskBackend", "QUEUES": [], "OPTIONS": {"retries": 2, "ttl": 3600}},
    "timing_out": {"BACKEND": "autotask.backends.AutotaskBackend", "OPTIONS": {"timeout": 0.5}},
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # logins in tests: no key stretching
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Worker subprocesses see only committed data: tests use a file database, and
# TransactionTestCase-style tests; the name is per test process (pytest-xdist safe).
_NAME = f"autotask_test_{os.environ.get('AUTOTASK_TEST_SUFFIX', '')}".rstrip("_")
if DB == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": _NAME},
        }
    }
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "test",
            "USER": "root",
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": _NAME, "CHARSET": "utf8mb4"},
        }
    }
else:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(RUN_DIR / "db.sqlite3"),
            "TEST": {"NAME": str(RUN_DIR / f"{_NAME}.sqlite3")},
        }
    }

# Worker subprocesses started by tests use the test database pytest-django made.
if os.environ.get("AUTOTASK_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["AUTOTASK_TEST_DATABASE_NAME"]

AUTOTASK_IS_ACTIVE = True
AUTOTASK_EAGER = os.environ.get("AUTOTASK_TEST_EAGER") == "1"  # tests/test_eager.py's Django process
AUTOTASK_WORKER_AUTOSTART = os.environ.get("AUTOTASK_TEST_AUTOSTART") == "1"
AUTOTASK_HANDLE_TASK_IDLE_TIME = float(os.environ.get("AUTOTASK_TEST_IDLE_TIME", "10"))
AUTOTASK_RETRY_DELAY = 0.2
AUTOTASK_HEARTBEAT_INTERVAL = float(os.environ.get("AUTOTASK_TEST_HEARTBEAT_INTERVAL", "0.5"))
AUTOTASK_WORKER_MONITOR_INTERVALL = 0.5
AUTOTASK_STOP_GRACE = float(os.environ.get("AUTOTASK_TEST_STOP_GRACE", "30"))
AUTOTASK_WORKER_MAX_TASKS = int(os.environ["AUTOTASK_TEST_MAX_TASKS"]) if os.environ.get("AUTOTASK_TEST_MAX_TASKS") else None
AUTOTASK_WORKER_MAX_MEMORY_MB = float(os.environ.get("AUTOTASK_TEST_MAX_MEMORY_MB", "0")) or None
AUTOTASK_DASHBOARD_REFRESH = 0.5
AUTOTASK_TIMEOUT_MODE = os.environ.get("AUTOTASK_TEST_TIMEOUT_MODE", "process")
AUTOTASK_CLEAN_INTERVALL = float(os.environ.get("AUTOTASK_TEST_CLEAN_INTERVALL", "600"))
AUTOTASK_WORKER_PROCESSES = int(os.environ.get("AUTOTASK_TEST_PROCESSES", "1"))
AUTOTASK_WORKER_THREADS = int(os.environ.get("AUTOTASK_TEST_THREADS", "1"))
AUTOTASK_INTERRUPT_GRACE = float(os.environ.get("AUTOTASK_TEST_INTERRUPT_GRACE", "5"))
AUTOTASK_COMPANION_SCOPE = os.environ.get("AUTOTASK_TEST_COMPANION_SCOPE", "process")
AUTOTASK_POLL_INTERVAL = float(os.environ["AUTOTASK_TEST_POLL_INTERVAL"]) if os.environ.get("AUTOTASK_TEST_POLL_INTERVAL") else None
AUTOTASK_OUTPUT = os.environ.get("AUTOTASK_TEST_OUTPUT", "1") == "1"
AUTOTASK_OUTPUT_MAX_BYTES = int(os.environ.get("AUTOTASK_TEST_OUTPUT_MAX_BYTES", "1000000"))
# Celery mode (tests/test_celery.py): its Celery workers run with AUTOTASK_TEST_ENGINE=celery.
AUTOTASK_ENGINE = os.environ.get("AUTOTASK_TEST_ENGINE", "autotask")
AUTOTASK_CELERY_APP = "tests.celery_app.app"
AUTOTASK_CELERY_DISPATCH_INTERVAL = float(os.environ.get("AUTOTASK_TEST_DISPATCH_INTERVAL", "0.2"))
AUTOTASK_CELERY_RESEND_AFTER = 2  # a lost message is sent again soon (tests/test_celery_outage.py)
CELERY_BROKER_URL = os.environ.get("AUTOTASK_TEST_BROKER", "redis://127.0.0.1:6379/15")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_DB_REUSE_MAX = 1000  # a pool process keeps its database connection (autotask.W011)
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False  # no broadcast channel: kombu's Redis pub/sub dies on a broker restart
CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}  # Redis: priorities
CELERY_TASK_QUEUE_MAX_PRIORITY = 10  # RabbitMQ: queues declared with priorities
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"autotask": {"handlers": ["console"], "level": os.environ.get("AUTOTASK_LOG_LEVEL", "WARNING")}},
}
if os.environ.get("AUTOTASK_TEST_DJANGO_TASKS_LOG"):  # the level of Django's task signals' log (either package's)
    for name in ("django.tasks", "django_tasks"):
        LOGGING["loggers"][name] = {"level": os.environ["AUTOTASK_TEST_DJANGO_TASKS_LOG"]}
