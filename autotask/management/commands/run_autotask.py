"""``python manage.py run_autotask``: worker processes in the foreground, for dedicated worker hosts."""

from __future__ import annotations

import logging
import sys

from django.core.management.base import BaseCommand, CommandError


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Run autotask worker processes in the foreground, under a supervisor that starts again any that ends. "
        "SIGTERM or Ctrl-C lets the running tasks finish, then exits."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--queue", action="append", dest="queues", metavar="NAME",
            help="take tasks of this queue only (repeat for several; default: every queue)",
        )
        parser.add_argument(
            "--processes", type=_positive, metavar="N",
            help="worker processes (default: AUTOTASK_WORKER_PROCESSES); for CPU-bound tasks, about one per core",
        )
        parser.add_argument(
            "--threads", type=_positive, metavar="M",
            help="tasks each process runs at once, one per thread (default: AUTOTASK_WORKER_THREADS); "
            "for tasks that wait on the network or the disk",
        )

    def handle(self, *args, **options) -> None:
        from django.utils.module_loading import autodiscover_modules

        from autotask.conf import conf
        from autotask.execution.loop import Worker
        from autotask.execution.pool import Pool
        from autotask.options import check_queue_name

        if conf.ENGINE != "autotask":
            raise CommandError(
                f"AUTOTASK_ENGINE is {conf.ENGINE!r}: its workers run the tasks, not run_autotask. "
                "Start Celery workers instead ('celery -A proj worker'); each also hands over what is due "
                "and decides the schedules' due times."
            )
        queues = options["queues"] or []
        for name in queues:
            try:
                check_queue_name(name)
            except ValueError as exc:
                raise CommandError(f"--queue {name!r}: {exc}") from None
        processes = options["processes"] or conf.WORKER_PROCESSES
        threads = options["threads"] or conf.WORKER_THREADS
        level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}[options["verbosity"]]
        logger = logging.getLogger("autotask")
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(level)
        autodiscover_modules("tasks")  # once, before the worker processes are forked

        def run_worker(read_fd: int) -> int:
            return Worker(queues=queues, threads=threads, parent_fd=read_fd).run()

        code = Pool(processes, run_worker).run()
        if code:
            sys.exit(code)
