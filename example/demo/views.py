"""One page: a button that enqueues tasks, and the live state of autotask's tables."""

import json

from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from autotask import serialization
from autotask.models import Schedule, Task, TaskOutput, Worker

from . import tasks

RECENT = 30


def enqueue_batch():
    """A handful of calls: each is stored now and runs after its task's delay."""
    tasks.send_welcome_email("ada@example.com")
    tasks.send_welcome_email("grace@example.com")
    tasks.build_report(rows=1200)
    tasks.flaky_call()
    tasks.always_fails()
    tasks.send_welcome_email("linus@example.com")


@require_POST
def run_some_tasks(request):
    enqueue_batch()
    return redirect("index")


def index(request):
    auto_started = False
    if not Task.objects.filter(schedule__isnull=True).exists() and not request.session.get("auto_started"):
        # A newcomer's first visit: give them something to watch at once.
        enqueue_batch()
        request.session["auto_started"] = auto_started = True

    now = timezone.now()
    rows = [_task_row(t, now) for t in Task.objects.order_by("-created_at").defer("traceback")[:RECENT]]
    _add_last_output_lines(rows)
    counts = dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by())
    schedules = [_schedule_row(s, now) for s in Schedule.objects.order_by("function")]
    workers = [_worker_row(w, now) for w in Worker.objects.order_by("-started_at")]
    return render(
        request,
        "demo/index.html",
        {
            "tasks": rows,
            "counts": [(s, counts.get(s, 0)) for s in ("WAITING", "RUNNING", "DONE", "ERROR", "CANCELLED")],
            "total": sum(counts.values()),
            "schedules": schedules,
            "workers": workers,
            "auto_started": auto_started,
            "now": now,
        },
    )


# -- formatting --------------------------------------------------------------


def _short(path):
    """``demo.tasks.build_report`` -> ``build_report``."""
    return path.rsplit(".", 1)[-1]


def _clock(value):
    """A time of day with milliseconds, in the current time zone."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%H:%M:%S.%f")[:-3]


def _stamp(value):
    """Date and time to the second, in the current time zone."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def _relative(value, now):
    """``in 4.2 s`` / ``3 s ago`` / ``in 5 h 12 min``."""
    if value is None:
        return ""
    seconds = (value - now).total_seconds()
    amount = abs(seconds)
    if amount < 60:
        text = f"{amount:.1f} s" if amount < 10 else f"{amount:.0f} s"
    elif amount < 3600:
        text = f"{amount // 60:.0f} min {amount % 60:.0f} s"
    elif amount < 86400:
        text = f"{amount // 3600:.0f} h {amount % 3600 // 60:.0f} min"
    else:
        text = f"{amount // 86400:.0f} d {amount % 86400 // 3600:.0f} h"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _compact(value, limit=90):
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arguments(text):
    try:
        args, kwargs = serialization.loads_call(text)
    except ValueError:
        return ""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return _compact(", ".join(parts), 60)


def _task_row(task, now):
    result = ""
    if task.result is not None:
        try:
            result = _compact(serialization.loads(task.result))
        except ValueError:
            result = _compact(task.result)
    duration_ms = None
    if task.started_at and task.finished_at:
        duration_ms = round((task.finished_at - task.started_at).total_seconds() * 1000)
    elif task.started_at and task.status == "RUNNING":
        duration_ms = round((now - task.started_at).total_seconds() * 1000)
    retrying = task.status == "WAITING" and task.attempts > 0
    return {
        "id": task.id,
        "function": _short(task.function),
        "arguments": _arguments(task.arguments),
        "scheduled": task.schedule_id is not None,
        "status": task.status,
        "retrying": retrying,
        "result": result,
        "error": task.error_message,
        "exception": _short(task.exception_class) if task.exception_class else "",
        "progress": task.progress,
        "created": _clock(task.created_at),
        "due_in": _relative(task.run_at, now) if task.status == "WAITING" and task.run_at > now else "",
        "started": _clock(task.started_at),
        "finished": _clock(task.finished_at),
        "duration_ms": duration_ms,
        "attempts": task.attempts,
        "max_attempts": task.retries + 1,
        "worker": task.worker,
    }


def _add_last_output_lines(rows):
    """Each task's last line of output (what it printed and logged), with one query for the page."""
    last = {}
    for task_id, text in TaskOutput.objects.filter(task_id__in=[r["id"] for r in rows]).order_by("id").values_list("task_id", "text"):
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            last[task_id] = lines[-1]
    for row in rows:
        row["output"] = _compact(last.get(row["id"], ""))


def _schedule_row(schedule, now):
    return {
        "function": _short(schedule.function),
        "kind": schedule.kind,
        "expression": schedule.expression,
        "words": schedule.describe(),  # "every 15 seconds", "every day at 03:00"
        "active": schedule.active,
        "next_run": _stamp(schedule.next_run_at),
        "next_run_in": _relative(schedule.next_run_at, now),
        "last_run": _stamp(schedule.last_run_at),
        "last_run_ago": _relative(schedule.last_run_at, now),
        "last_status": schedule.last_status,
        "last_error": schedule.last_error,
    }


def _worker_row(worker, now):
    age = (now - worker.heartbeat_at).total_seconds()
    return {
        "label": f"{worker.host}:{worker.pid}",
        "companion": worker.companion,
        "started": _relative(worker.started_at, now),
        "heartbeat": _clock(worker.heartbeat_at),
        "heartbeat_ago": _relative(worker.heartbeat_at, now),
        "fresh": age < 15,
        "tasks_done": worker.tasks_done,
    }
