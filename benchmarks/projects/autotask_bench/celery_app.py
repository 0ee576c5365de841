"""The benchmark project's Celery app, for autotask on Celery (``BENCH_ENGINE=celery``,
``AUTOTASK_CELERY_APP = "autotask_bench.celery_app.app"``): as a project's ``proj/celery.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autotask_bench.settings")

app = Celery("autotask_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
