"""The test project's Celery app (``AUTOTASK_CELERY_APP = "tests.celery_app.app"``), as a project's
``proj/celery.py`` would be; its broker is ``AUTOTASK_TEST_BROKER`` (see tests/test_celery.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
