"""``python manage.py run_autotask``: a worker in the foreground, for dedicated worker hosts."""

from __future__ import annotations

import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from autotask.execution.loop import Worker


class Command(BaseCommand):
    help = "Run an autotask worker in the foreground. SIGTERM or Ctrl-C lets the running task finish, then exits."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--queue", action="append", dest="queues", metavar="NAME",
            help="take tasks of this queue only (repeat for several; default: every queue)",
        )

    def handle(self, *args, **options) -> None:
        from autotask.options import check_queue_name

        queues = options["queues"] or []
        for name in queues:
            try:
                check_queue_name(name)
            except ValueError as exc:
                raise CommandError(f"--queue {name!r}: {exc}") from None
        level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}[options["verbosity"]]
        logger = logging.getLogger("autotask")
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(level)
        code = Worker(queues=queues).run()
        if code:
            sys.exit(code)
