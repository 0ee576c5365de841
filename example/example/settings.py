"""Settings of the autotask example project: SQLite, the admin, and the companion worker.

For the demo only: the secret key is public and DEBUG is on.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "autotask-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "autotask",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A file, not ":memory:": the companion worker is another process and shares it.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# autotask: decorators store calls, and runserver starts a companion worker that runs them.
AUTOTASK_IS_ACTIVE = True
AUTOTASK_RETRY_DELAY = 2  # seconds between the runs of a failing task with retries

# Celery mode (make demo-celery): Celery workers run the tasks, with Redis as the broker.
if os.environ.get("EXAMPLE_ENGINE") == "celery":
    AUTOTASK_ENGINE = "celery"
    AUTOTASK_CELERY_APP = "example.celery.app"
    CELERY_BROKER_URL = os.environ.get("EXAMPLE_BROKER", "redis://127.0.0.1:6379/0")
    CELERY_TASK_DEFAULT_QUEUE = "default"  # autotask's default queue: a worker takes it without -Q
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_DB_REUSE_MAX = 1000  # keep a database connection for 1,000 tasks, not one each (autotask.W011)


def _not_a_page_reload(record):
    """The page reloads itself every second: keep those requests out of the terminal."""
    return not (getattr(record, "status_code", None) == 200 and record.getMessage().startswith('"GET / '))


# The autotask logger at INFO on the console: the terminal shows the companion
# starting, and a "task finished" (or "task failed") line for every task it runs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "not_a_page_reload": {"()": "django.utils.log.CallbackFilter", "callback": _not_a_page_reload},
    },
    "formatters": {
        "autotask": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"},
        "server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "autotask"},
        "server": {"class": "logging.StreamHandler", "formatter": "server", "filters": ["not_a_page_reload"]},
    },
    "loggers": {
        "autotask": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
    },
}
