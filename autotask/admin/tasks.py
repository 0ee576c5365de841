"""Tasks: the list with filters and search, each task's run record, and the actions."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .. import db, operations, output, serialization
from ..models import Schedule, Task, Worker
from ..queue import dependencies
from ..task import CANCELLED, ERROR, FINISHED, QUEUED, UNFINISHED, WAITING
from .base import OperateAdmin, moment, pre

RECENT = 10_000  # the function and queue filters offer the values of this many newest tasks


class RecentValuesFilter(admin.SimpleListFilter):
    """By a column's value. The choices are the values of the newest tasks, and the
    ``known`` ones: a DISTINCT over every row would read the whole table (seconds at a
    million rows)."""

    def known(self) -> set[str]:
        return set()

    def lookups(self, request, model_admin):
        values = set(
            Task.objects.using(db.alias()).order_by("-id").values_list(self.parameter_name, flat=True)[:RECENT]
        )
        values |= self.known() | ({self.value()} if self.value() else set())
        return [(value, value) for value in sorted(values)]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class FunctionFilter(RecentValuesFilter):
    title = "function"
    parameter_name = "function"

    def known(self) -> set[str]:
        return set(Schedule.objects.using(db.alias()).values_list("function", flat=True))


class QueueFilter(RecentValuesFilter):
    title = "queue"
    parameter_name = "queue_name"

    def known(self) -> set[str]:
        named = Worker.objects.using(db.alias()).values_list("queues", flat=True)
        return {name for queues in named for name in queues.split(",") if name}


@admin.register(Task)
class TaskAdmin(OperateAdmin):
    list_display = (
        "function", "status", "queue_name", "priority", "created", "due", "started", "duration", "attempts",
        "progress_bar", "worker",
    )
    list_filter = ("status", FunctionFilter, QueueFilter, "schedule")
    search_fields = ("id", "function", "error_message")
    ordering = ("-id",)  # time-ordered ids: newest first, through the primary key's index
    actions = ("cancel_tasks", "retry_tasks", "run_tasks_now", "delete_finished_tasks")
    change_form_template = "admin/autotask/task/change_form.html"
    fieldsets = (
        (None, {"fields": (
            "status", "call", "result_display", "progress_bar", "output_display", "error_message", "exception_class",
            "traceback_display",
        )}),
        ("Task", {"fields": ("id", "function", "name", "queue_name", "priority", "schedule", "due_at")}),
        ("Object and dependencies", {"fields": ("object_display", "dependencies_display", "dependents_display")}),
        ("Run record", {"fields": (
            "created", "due", "started", "finished", "duration", "expires", "attempts", "retries", "losses", "ttl",
            "timeout", "worker", "cancel_requested",
        )}),
    )
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_actions(self, request, action_location=None):
        # (action_location: Django 6.1's, passed on only where given)
        where = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **where)
        actions.pop("delete_selected", None)  # it would delete unfinished tasks too, row by row
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.status in FINISHED)

    # -- columns and fields --------------------------------------------------------------

    @admin.display(description="object")
    def object_display(self, obj: Task):
        """The model instance a method task runs on: a link to its admin page where it has one."""
        if not obj.object_model:
            return "-"
        text = f"{obj.object_model} {obj.object_id}"
        try:
            model = apps.get_model(obj.object_model)
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.object_id])
        except (LookupError, NoReverseMatch):
            return text
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="waits for")
    def dependencies_display(self, obj: Task):
        return self._task_links(dependencies.dependencies_of(obj.pk))

    @admin.display(description="waited for by")
    def dependents_display(self, obj: Task):
        return self._task_links(dependencies.dependents_of(obj.pk), limit=100)

    @staticmethod
    def _task_links(ids, limit: int = 1000):
        """Each task as a link to its page, with its status (a gone one says so)."""
        if not ids:
            return "-"
        rows = dict(
            (pk, (function, status))
            for pk, function, status in Task.objects.using(db.alias()).filter(pk__in=ids[:limit]).values_list(
                "id", "function", "status"
            )
        )
        links = []
        for pk in ids[:limit]:
            function, status = rows.get(pk, ("(record removed)", ""))
            url = reverse("admin:autotask_task_change", args=[pk])
            links.append(format_html('<a href="{}">{}</a> {} {}', url, pk, function, status))
        more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
        return format_html("{}{}", mark_safe("<br>".join(links)), more)  # each link is escaped

    @admin.display(description="progress")
    def progress_bar(self, obj: Task):
        if obj.progress is None:
            return "-"
        return format_html('<progress max="100" value="{}" title="{}%"></progress> {}%', obj.progress, obj.progress, obj.progress)

    @admin.display(description="call")
    def call(self, obj: Task):
        """The call as it was written: ``send_mail('ada@example.com', subject='Hi')``."""
        try:
            args, kwargs = serialization.loads_call(obj.arguments)
        except ValueError:
            return pre(obj.arguments)
        parts = [repr(value) for value in args] + [f"{name}={value!r}" for name, value in kwargs.items()]
        return pre(f"{obj.function.rsplit('.', 1)[-1]}({', '.join(parts)})")

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Task):
        return moment(obj.created_at)

    @admin.display(description="due", ordering="run_at")
    def due(self, obj: Task):
        return moment(obj.run_at)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: Task):
        return moment(obj.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj: Task):
        return moment(obj.finished_at)

    @admin.display(description="duration")
    def duration(self, obj: Task) -> str:
        return f"{obj.duration.total_seconds():.3f} s" if obj.duration is not None else "-"

    @admin.display(description="removed after")
    def expires(self, obj: Task):
        return moment(obj.expires_at)

    @admin.display(description="result")
    def result_display(self, obj: Task):
        return pre(self._pretty(obj.result)) if obj.result is not None else "-"

    @admin.display(description="output")
    def output_display(self, obj: Task):
        """What the run printed and logged (autotask.output); the page reads itself again while it runs."""
        return pre(output.text(obj.pk))

    @admin.display(description="traceback")
    def traceback_display(self, obj: Task):
        return pre(obj.traceback)

    @staticmethod
    def _pretty(text: str | None) -> str:
        try:
            return repr(serialization.loads(text or "null"))
        except ValueError:
            return text or ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        extra = {
            "task_actions": self._row_actions(request, task) if task else [],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "live": task is not None and task.status in UNFINISHED,
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _row_actions(self, request, task: Task) -> list[tuple[str, str]]:
        """The actions that would change this task, as buttons on its page: (action, label)."""
        offered = self.get_actions(request)
        fitting = [
            ("run_tasks_now", "Run now", task.status in (WAITING, QUEUED) and task.run_at > timezone.now()),
            ("cancel_tasks", "Cancel", task.status in UNFINISHED),
            ("retry_tasks", "Run again", task.status in (ERROR, CANCELLED)),
        ]
        return [(name, label) for name, label, fits in fitting if fits and name in offered]

    # -- actions ---------------------------------------------------------------------------

    @admin.action(description="Cancel the selected tasks", permissions=["change"])
    def cancel_tasks(self, request, queryset):
        counts = operations.cancel_tasks(queryset)
        return self.report(request, [
            (counts["cancelled"], "task cancelled", "tasks cancelled"),
            (counts["stopping"], "running task asked to stop", "running tasks asked to stop"),
            (counts["finished"], "already finished", "already finished"),
        ])

    @admin.action(description="Run the selected failed or cancelled tasks again", permissions=["change"])
    def retry_tasks(self, request, queryset):
        counts = operations.retry_tasks(queryset)
        return self.report(request, [
            (counts["retried"], "task will run again", "tasks will run again"),
            (counts["other"], "was not failed or cancelled", "were not failed or cancelled"),
        ])

    @admin.action(description="Run the selected waiting tasks now", permissions=["change"])
    def run_tasks_now(self, request, queryset):
        counts = operations.run_tasks_now(queryset)
        return self.report(request, [
            (counts["moved"], "task due now", "tasks due now"),
            (counts["due"], "was due already", "were due already"),
            (counts["other"], "not waiting", "not waiting"),
        ])

    @admin.action(description="Delete the selected finished tasks", permissions=["delete"])
    def delete_finished_tasks(self, request, queryset):
        if request.POST.get("post") != "yes":  # first ask, with counts only (no list of rows)
            context = {
                **self.admin_site.each_context(request),
                "title": "Delete finished tasks?",
                "opts": self.opts,
                "counts": operations.count_finished(queryset),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "next": request.POST.get("_next", ""),
            }
            return TemplateResponse(request, "admin/autotask/task/delete_finished.html", context)
        counts = operations.delete_finished_tasks(queryset)
        self.report(request, [
            (counts["deleted"], "finished task deleted", "finished tasks deleted"),
            (counts["kept"], "unfinished task kept", "unfinished tasks kept"),
        ])
        return None  # back to the list (a deleted task's page is gone)
