"""``python manage.py autotask_schedules``: every schedule with its next and last runs."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from autotask import schedules, timeutil
from autotask.models import Schedule


def _local(value) -> str:
    if value is None:
        return "-"
    return timezone.localtime(timeutil.aware(value)).strftime("%a %Y-%m-%d %H:%M:%S %Z")


class Command(BaseCommand):
    help = (
        "List every periodic and cron schedule: kind, expression, time zone, the schedule in words, "
        "next due times, last run and result."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("-n", type=int, default=3, help="how many next due times to show (default 3)")

    def handle(self, *args, **options) -> None:
        autodiscover_modules("tasks")
        n = max(1, options["n"])
        rows = list(Schedule.objects.using(schedules.db.alias()).order_by("function"))
        if not rows:
            self.stdout.write("No schedules stored yet (a worker stores them when it starts).")
        for row in rows:
            self.stdout.write(self.style.MIGRATE_HEADING(row.function))
            state = "active" if row.active else "stopped"
            self.stdout.write(f"  {row.kind}, {row.expression}, time zone {row.timezone or '-'}, {state}")
            self.stdout.write(f"  when: {row.describe() or '-'}")
            if row.active:
                upcoming = [row.next_run_at] if row.next_run_at else []
                spec = schedules.REGISTRY.get(row.function)
                if spec is not None and upcoming:
                    due = timeutil.aware(upcoming[0])
                    for _ in range(n - 1):
                        due = spec.next_after(due)
                        upcoming.append(due)
                self.stdout.write("  next: " + ", ".join(_local(d) for d in upcoming[:n]) if upcoming else "  next: -")
            last = f"  last run: {_local(row.last_run_at)}"
            if row.last_status:
                last += f" {row.last_status}"
            if row.last_error:
                last += f" ({row.last_error.splitlines()[0][:200]})"
            self.stdout.write(last)
