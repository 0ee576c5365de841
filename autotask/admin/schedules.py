"""Schedules: next and last runs, and the actions run now, pause and resume."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .. import operations
from ..models import Schedule
from .base import OperateAdmin, pre


@admin.register(Schedule)
class ScheduleAdmin(OperateAdmin):
    list_display = (
        "function", "kind", "expression", "describe", "timezone", "state", "next_run_at", "last_run_at", "last_status",
        "runs_link",
    )
    list_filter = ("kind", "active", "paused", "last_status")
    search_fields = ("function",)
    ordering = ("function",)
    actions = ("run_schedules_now", "pause_schedules", "resume_schedules")
    fields = (
        "function", "kind", "expression", "describe", "timezone", "state", "next_run_at", "last_run_at", "last_status",
        "last_error_display", "runs_link", "created_at", "updated_at",
    )
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a worker stores every registered schedule again when it starts

    @admin.display(description="state")
    def state(self, obj: Schedule) -> str:
        if not obj.active:
            return "stopped"
        return "paused" if obj.paused else "active"

    @admin.display(description="last error")
    def last_error_display(self, obj: Schedule):
        return pre(obj.last_error)

    @admin.display(description="runs")
    def runs_link(self, obj: Schedule):
        url = reverse("admin:autotask_task_changelist", current_app=self.admin_site.name)
        return format_html('<a href="{}?schedule__id__exact={}">runs</a>', url, obj.pk)

    @admin.action(description="Run the selected schedules now (one extra run)", permissions=["change"])
    def run_schedules_now(self, request, queryset):
        counts = operations.run_schedules_now(queryset)
        return self.report(request, [
            (counts["started"], "schedule runs now", "schedules run now"),
            (counts["busy"], "has a run waiting or running already", "have a run waiting or running already"),
            (counts["stopped"], "is stopped (its function is gone)", "are stopped (their functions are gone)"),
        ])

    @admin.action(description="Pause the selected schedules", permissions=["change"])
    def pause_schedules(self, request, queryset):
        counts = operations.pause_schedules(queryset)
        return self.report(request, [
            (counts["paused"], "schedule paused", "schedules paused"),
            (counts["already"], "was paused already", "were paused already"),
        ])

    @admin.action(description="Resume the selected schedules (from their next due time)", permissions=["change"])
    def resume_schedules(self, request, queryset):
        counts = operations.resume_schedules(queryset)
        return self.report(request, [
            (counts["resumed"], "schedule resumed", "schedules resumed"),
            (counts["already"], "was not paused", "were not paused"),
        ])
