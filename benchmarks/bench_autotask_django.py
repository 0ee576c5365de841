"""autotask's django.tasks path: ``python bench_autotask_django.py --db sqlite|postgresql ...``.

Runs in a Django 6 virtualenv with autotask (Python 3.12+). The same project,
database and workers (``manage.py run_autotask``) as bench_autotask.py; the
tasks are Django's ``@task`` functions of ``projects/autotask_bench/tasks_django.py``,
stored with ``.enqueue()`` through ``autotask.backends.AutotaskBackend``.
The ``drain_decorator`` scenario drains ``@delayed_task`` no-ops in this same
virtualenv, for the ratio of the two paths on one Python and one Django;
``drain_quiet_log`` drains the django.tasks no-ops with the ``django.tasks``
logger at WARNING in the worker, which tells Django's own log receivers' share
of the difference from autotask's.
"""

from __future__ import annotations

import common
from bench_autotask import System as DecoratorSystem


class System(DecoratorSystem):
    enqueue_bulk = None  # Django's tasks framework has no bulk call

    def __init__(self, ctx: common.Context) -> None:
        super().__init__(ctx)
        from autotask_bench import tasks_django

        self.django_tasks = tasks_django

    def enqueue_one(self, i: int) -> None:
        self.django_tasks.noop.enqueue(i)

    def enqueue_many(self, n: int) -> None:
        from django.db import transaction

        noop = self.django_tasks.noop
        with transaction.atomic():
            for i in range(n):
                noop.enqueue(i)

    def mark(self, path, label: str):
        return self.django_tasks.mark.enqueue(str(path), label).id


class DecoratorPath(System):
    """The same virtualenv and worker, @delayed_task's calls (the drain_decorator scenario)."""

    enqueue_many = DecoratorSystem.enqueue_many

    def __init__(self, system: System) -> None:
        self.__dict__.update(system.__dict__)

    def mark(self, path, label: str):
        return self.tasks.mark(str(path), label).id


class QuietDjangoLog(System):
    """The same virtualenv, worker and tasks, with the ``django.tasks`` logger at WARNING in the worker."""

    def __init__(self, system: System) -> None:
        self.__dict__.update(system.__dict__)

    def start_worker(self, log, *args, **env: str):
        return super().start_worker(log, *args, BENCH_DJANGO_TASKS_LOG="WARNING", **env)


def scenario_drain_quiet_log(system: System, ctx: common.Context) -> dict:
    return common.scenario_drain(QuietDjangoLog(system), ctx)


def scenario_drain_decorator(system: System, ctx: common.Context) -> dict:
    return common.scenario_drain(DecoratorPath(system), ctx)


if __name__ == "__main__":
    common.main(System, {"drain_decorator": scenario_drain_decorator, "drain_quiet_log": scenario_drain_quiet_log})
