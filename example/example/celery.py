"""The example's Celery app, for Celery mode (``make demo-celery``: ``EXAMPLE_ENGINE=celery``).

As in any Django project with Celery: the app reads its settings from Django's
(``CELERY_*``). autotask registers its one task (``autotask.run``) and starts
its dispatcher in each worker by itself: nothing more is needed here.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

app = Celery("example")
app.config_from_object("django.conf:settings", namespace="CELERY")
