"""Workers: alive or lost (from the heartbeat), companion or dedicated, what each runs now."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join

from .. import db
from ..conf import conf
from ..models import Task, Worker
from .base import OperateAdmin


@admin.register(Worker)
class WorkerAdmin(OperateAdmin):
    list_display = ("__str__", "kind", "queue_names", "alive", "heartbeat_age", "started_at", "tasks_done", "current_tasks")
    list_filter = ("companion", "host")
    ordering = ("host", "pid")
    actions = None
    fields = (
        "id", "host", "pid", "kind", "queue_names", "alive", "started_at", "heartbeat_at", "heartbeat_age", "tasks_done",
        "current_tasks",
    )
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a lost worker's row is removed by the other workers

    @admin.display(description="kind")
    def kind(self, obj: Worker) -> str:
        return "companion" if obj.companion else "dedicated"

    @admin.display(description="queues")
    def queue_names(self, obj: Worker) -> str:
        return obj.queues.replace(",", ", ") or "all"

    @admin.display(description="alive", boolean=True)
    def alive(self, obj: Worker) -> bool:
        return (timezone.now() - obj.heartbeat_at).total_seconds() < conf.WORKER_LOST_AFTER

    @admin.display(description="last heartbeat")
    def heartbeat_age(self, obj: Worker) -> str:
        return f"{(timezone.now() - obj.heartbeat_at).total_seconds():.1f} s ago"

    @admin.display(description="running now")
    def current_tasks(self, obj: Worker):
        running = Task.objects.using(db.alias()).running().filter(worker_id=obj.id).values_list("id", "function")[:10]
        url = reverse("admin:autotask_task_changelist", current_app=self.admin_site.name)
        return format_html_join(", ", '<a href="{}{}/change/">{}</a>', ((url, pk, function) for pk, function in running)) or "-"
