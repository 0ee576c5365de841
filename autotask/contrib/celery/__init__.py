"""Celery as autotask's engine (``AUTOTASK_ENGINE = "celery"``), imported only when configured.

- ``wiring``: the Celery task that runs an autotask row by its id, the hand-over
  of stored rows to the broker, and what a Celery worker starts (the dispatcher);
- ``dispatcher``: inside every Celery worker, a thread that decides the due
  times of schedules, hands over rows whose hand-over failed, and recovers the
  runs of lost processes;
- ``checks``: the system checks of the Celery settings.

A message carries the task's id, as JSON, and nothing else: the row decides
what runs, so whoever can write to the broker can't run code of their choice,
and a message delivered twice runs its task once.
"""

TASK_NAME = "autotask.run"
