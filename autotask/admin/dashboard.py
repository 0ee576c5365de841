"""The dashboard at /admin/autotask/dashboard/ (``admin:autotask_dashboard``), and its data.

The page draws every figure of ``autotask.overview.snapshot`` in the browser
(``static/autotask/dashboard.js``) and asks for them again every few seconds at
``admin:autotask_dashboard_data`` (JSON), while the tab is visible. It needs
the view permission on tasks, like the task list.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import overview
from ..conf import conf
from ..models import Dashboard


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """Not a table: the admin's entry for the dashboard (so the index and navigation list it)."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("autotask.view_task") or request.user.has_perm("autotask.change_task")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        page = self.admin_site.admin_view(self.dashboard_view)
        return [
            path("", page, name="autotask_dashboard"),
            path("", page, name="autotask_dashboard_changelist"),  # the name the admin index links to
            path("data/", self.admin_site.admin_view(self.data_view), name="autotask_dashboard_data"),
        ]

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "autotask dashboard",
            "opts": self.opts,
            "data_url": reverse("admin:autotask_dashboard_data", current_app=self.admin_site.name),
            "refresh_ms": int(conf.DASHBOARD_REFRESH * 1000),
            "figures": self.figures(request),
        }
        return TemplateResponse(request, "admin/autotask/dashboard.html", context)

    def data_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(self.figures(request), encoder=DjangoJSONEncoder)

    def figures(self, request) -> dict[str, Any]:
        """The snapshot, with the admin's links for what it names."""
        started = time.perf_counter()
        figures = overview.snapshot()

        def url(name: str, *args: Any, query: dict[str, Any] | None = None) -> str:
            address = reverse(f"admin:{name}", args=args, current_app=self.admin_site.name)
            return address + ("?" + urlencode(query) if query else "")

        for status, count in figures["counts"].items():
            count["url"] = url("autotask_task_changelist", query={"status__exact": status})
        if figures["due"]["oldest_id"]:
            figures["due"]["oldest_url"] = url("autotask_task_change", figures["due"]["oldest_id"])
        for worker in figures["workers"]:
            worker["url"] = url("autotask_worker_change", worker["id"])
            for task in worker["running"]:
                task["url"] = url("autotask_task_change", task["id"])
        for schedule in figures["schedules"]:
            schedule["url"] = url("autotask_schedule_change", schedule["id"])
        for failure in figures["failures"]:
            failure["url"] = url("autotask_task_change", failure["id"])
        figures["links"] = {
            "tasks": url("autotask_task_changelist"),
            "failures": url("autotask_task_changelist", query={"status__exact": "ERROR"}),
            "schedules": url("autotask_schedule_changelist"),
            "workers": url("autotask_worker_changelist"),
        }
        figures["took_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return figures
