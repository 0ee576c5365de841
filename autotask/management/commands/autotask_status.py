"""``python manage.py autotask_status``: the dashboard's figures as text or JSON, and a health check.

Exit status: 0 when healthy; 1 when tasks (or schedules) are due and no worker
is alive; 2 when the database can't be read (unreachable, or not migrated).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.utils import timezone

from autotask import overview, timeutil

UNHEALTHY = 1
NO_DATABASE = 2


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _local(value: Any) -> str:
    if value is None:
        return "-"
    return timezone.localtime(timeutil.aware(value)).strftime("%Y-%m-%d %H:%M:%S %Z")


class Command(BaseCommand):
    # A health check: no system checks first (they take time, and on MySQL with Django 6.1
    # they connect, so an unreachable database would fail there instead of exiting 2).
    requires_system_checks: list[str] = []
    help = (
        "Print autotask's figures (counts, runs per minute, pickup delays, workers, schedules, failures). "
        "Exits 1 when tasks are due and no worker is alive, 2 when the database can't be read: a health check."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument(
            "--exact", action="store_true",
            help="count every status exactly (reads the whole task table; above 10,000 rows of a status the "
            "figures are otherwise estimates, or lower bounds on SQLite)",
        )
        parser.add_argument(
            "--grace", type=float, default=0.0, metavar="SECONDS",
            help="count a task or schedule as due only once it is this late (default 0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            figures = overview.snapshot(grace=options["grace"], exact=options["exact"])
        except DatabaseError as exc:
            raise CommandError(f"can't read autotask's tables: {exc}", returncode=NO_DATABASE) from exc
        if options["json"]:
            self.stdout.write(json.dumps(figures, cls=DjangoJSONEncoder, indent=2))
        else:
            self._print(figures)
        if not figures["health"]["ok"]:
            raise CommandError("; ".join(figures["health"]["problems"]), returncode=UNHEALTHY)

    def _print(self, figures: dict[str, Any]) -> None:
        write = self.stdout.write
        health = figures["health"]
        write(f"autotask at {_local(figures['now'])}")
        if health["ok"]:
            write(self.style.SUCCESS(f"health:    OK ({health['workers_alive']} workers alive)"))
        else:
            write(self.style.ERROR("health:    UNHEALTHY: " + "; ".join(health["problems"])))
        write("tasks:     " + ", ".join(f"{s.lower()} {c['text']}" for s, c in figures["counts"].items()))
        queues = ", ".join(f"{q['queue']} {q['waiting']['text']} waiting {q['running']['text']} running" for q in figures["queues"])
        write(f"queues:    {queues or '-'}")
        due = figures["due"]
        write(f"due now:   {due['count']['text']}" + (f", the oldest waits {_seconds(due['oldest_age'])}" if due["oldest_id"] else ""))
        write("last hour: " + ", ".join(f"{n:,} {name}" for name, n in figures["last_hour"].items()))
        pickup = figures["pickup"]
        write(f"pickup:    p50 {_seconds(pickup['p50'])}, p95 {_seconds(pickup['p95'])} ({pickup['runs']:,} runs in 15 min)")
        write(f"workers:   {len(figures['workers'])}")
        for worker in figures["workers"]:
            running = ", ".join(f"{t['function']} ({t['id']})" for t in worker["running"]) or "-"
            state = "alive" if worker["alive"] else "LOST"
            write(
                f"  {worker['host']}:{worker['pid']}  {'companion' if worker['companion'] else 'dedicated'}  "
                f"queues {','.join(worker['queues']) or 'all'}  {state}, "
                f"heartbeat {_seconds(worker['heartbeat_age'])} ago, {worker['tasks_done']:,} done, running: {running}"
            )
        write(f"schedules: {len(figures['schedules'])}")
        for schedule in figures["schedules"]:
            state = "stopped" if not schedule["active"] else "paused" if schedule["paused"] else f"next {_local(schedule['next_run_at'])}"
            last = f", last {_local(schedule['last_run_at'])} {schedule['last_status']}" if schedule["last_run_at"] else ""
            write(f"  {schedule['function']}  {schedule['expression']}  {state}{last}")
        write(f"recent failures: {len(figures['failures'])}")
        for failure in figures["failures"]:
            message = (failure["message"] or "").splitlines()[0][:120] if failure["message"] else ""
            write(f"  {_local(failure['finished_at'])}  {failure['function']}  {message}  ({failure['id']})")
