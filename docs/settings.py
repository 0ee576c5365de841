"""The Django settings of the documentation's build (``make docs``).

conf.py points ``DJANGO_SETTINGS_MODULE`` here, so that autodoc can import
autotask's modules and the code examples (``sphinx-build -b doctest``) run
against a real SQLite database in a temporary folder, with a real
``run_autotask`` worker that conf.py starts for the doctest build. The
examples' tasks are in ``docs/myapp/tasks.py``.
"""

import os
from pathlib import Path

RUN_DIR = Path(os.environ.get("AUTOTASK_DOCS_DIR", "/tmp/autotask-docs"))

SECRET_KEY = "docs"
USE_TZ = True
TIME_ZONE = "Europe/Berlin"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "autotask",
    "myapp",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(RUN_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTOTASK_IS_ACTIVE = True
# The build's own process starts no companion: conf.py starts one worker for the doctest build.
AUTOTASK_WORKER_AUTOSTART = False
AUTOTASK_RETRY_DELAY = 0.2
AUTOTASK_HEARTBEAT_INTERVAL = 0.5
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"autotask": {"handlers": ["console"], "level": "WARNING"}},
}
