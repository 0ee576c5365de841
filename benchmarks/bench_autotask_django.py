"""autotask's django.tasks path: ``python bench_autotask_django.py --db sqlite|postgresql ...``.

Runs in a Django 6 virtualenv with autotask (Python 3.12+). The same project,
database and workers (``manage.py run_autotask``) as bench_autotask.py; the
tasks are Django's ``@task`` functions of ``projects/autotask_bench/tasks_django.py``,
stored with ``.enqueue()`` through ``autotask.backends.AutotaskBackend``.
The ``paths`` scenario drains, side by side, the django.tasks no-ops,
``@delayed_task`` no-ops in this same virtualenv (the ratio of the two paths
on one Python and one Django), and the django.tasks no-ops with the
``django.tasks`` logger at WARNING in the worker, which tells Django's own log
receivers' share of the difference from autotask's.
"""

from __future__ import annotations

from statistics import median

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
    """The same virtualenv and worker, @delayed_task's calls (in the paths scenario)."""

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


PATH_ROUNDS = 5  # rounds of the three drains side by side (1 with --quick)


def scenario_paths(system: System, ctx: common.Context) -> dict:
    """The django.tasks drain against @delayed_task's, and with the quiet log, side by side.

    Drains here move by 10-30% from one minute to the next: three drains timed minutes
    apart (one scenario each) gave ratios that said more about the machine than about
    the paths. Each round drains the same number of no-ops through each path, in an order
    that turns round by round; a ratio is the median of the rounds' ratios."""
    paths = {"django_tasks": system, "decorator": DecoratorPath(system), "quiet_log": QuietDjangoLog(system)}
    n = ctx.drain_tasks or ctx.n(10_000, 2000)
    rounds: list[dict[str, float]] = []
    for index in range(ctx.n(PATH_ROUNDS, 1)):
        names = list(paths)
        names = names[index % len(names):] + names[:index % len(names)]
        figures = {}
        for name in names:
            system.reset()
            common.settle(system)
            figures[name] = common.drain_once(paths[name], ctx, n, "paths")["tasks_per_s"]
        rounds.append(figures)
    system.reset()
    return {
        "tasks": n,
        "rounds": rounds,
        **{f"{name}_tasks_per_s": median([r[name] for r in rounds]) for name in paths},
        "decorator_ratio": round(median([r["django_tasks"] / r["decorator"] for r in rounds]), 2),
        "quiet_log_ratio": round(median([r["quiet_log"] / r["decorator"] for r in rounds]), 2),
    }


if __name__ == "__main__":
    common.main(System, {"paths": scenario_paths})
