"""A read-only admin: tasks with their run record, schedules with next and last runs, workers."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from . import serialization
from .models import Schedule, Task, Worker


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _pre(text: str):
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text) if text else "-"


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("function", "status", "created_at", "run_at", "started_at", "duration", "attempts", "progress_bar", "worker")
    list_filter = ("status", "function")
    search_fields = ("function", "id", "error_message")
    ordering = ("-created_at",)
    fields = (
        "id", "function", "status", "arguments_display", "result_display", "error_message", "exception_class",
        "traceback_display", "progress", "created_at", "run_at", "started_at", "finished_at", "expires_at",
        "attempts", "retries", "losses", "ttl", "timeout", "worker", "schedule", "due_at",
    )

    @admin.display(description="progress")
    def progress_bar(self, obj: Task):
        if obj.progress is None:
            return "-"
        return format_html('<progress max="100" value="{}" title="{}%"></progress>', obj.progress, obj.progress)

    @admin.display(description="arguments")
    def arguments_display(self, obj: Task):
        return _pre(self._pretty(obj.arguments))

    @admin.display(description="result")
    def result_display(self, obj: Task):
        return _pre(self._pretty(obj.result)) if obj.result is not None else "-"

    @admin.display(description="traceback")
    def traceback_display(self, obj: Task):
        return _pre(obj.traceback)

    @staticmethod
    def _pretty(text: str | None) -> str:
        try:
            return repr(serialization.loads(text or "null"))
        except ValueError:
            return text or ""


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    list_display = ("function", "kind", "expression", "describe", "timezone", "active", "next_run_at", "last_run_at", "last_status")
    list_filter = ("kind", "active", "last_status")
    search_fields = ("function",)
    readonly_fields = ("last_error_display",)

    @admin.display(description="last error")
    def last_error_display(self, obj: Schedule):
        return _pre(obj.last_error)


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    list_display = ("host", "pid", "companion", "started_at", "heartbeat_at", "tasks_done")
    list_filter = ("companion", "host")
