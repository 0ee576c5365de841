"""What autotask's admins share: read-only pages, actions that need their permission, messages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from .. import db, timeutil


class OperateAdmin(admin.ModelAdmin):
    """Rows are never edited or added through a form: they change only through actions
    (``autotask.operations``), and each action needs its model permission (change or
    delete). Django offers a user only the actions they may run; a POST of another one
    (forged, or from a stale page) answers 403 and changes nothing."""

    change_list_template = "admin/autotask/change_list.html"
    show_full_result_count = False  # one COUNT of a big table per page is enough

    def get_queryset(self, request):
        return super().get_queryset(request).using(db.alias())

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # With no object: whether actions that change rows are allowed. An object's
        # own page is read-only (its fields are the run record).
        return obj is None and super().has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "action" in request.POST:
            names = request.POST.getlist("action")
            try:
                name = names[int(request.POST.get("index", 0))]
            except (IndexError, ValueError):
                name = ""
            if name and name not in self.get_actions(request):
                raise PermissionDenied(f"not allowed: {name}")
        return super().changelist_view(request, extra_context)

    def report(self, request, parts: list[tuple[int, str, str]], nothing: str = "Nothing changed."):
        """One message from counts: ``[(3, "task cancelled", "tasks cancelled"), ...]``;
        parts with a count of 0 are left out. Success if the first part's count isn't 0."""
        said = [f"{count:,} {one if count == 1 else many}" for count, one, many in parts if count]
        level = messages.SUCCESS if parts and parts[0][0] else messages.WARNING
        self.message_user(request, ", ".join(said) + "." if said else nothing, level)
        return self.back(request)

    @staticmethod
    def back(request) -> HttpResponseRedirect | None:
        """Where an action started from a row's own page returns to (``_next``); None: the list."""
        target = request.POST.get("_next", "")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return HttpResponseRedirect(target)
        return None


def moment(value) -> str:
    """A time of the run record, to the millisecond, in the current time zone."""
    if value is None:
        return "-"
    local = timezone.localtime(timeutil.aware(value))
    return local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + local.strftime(" %Z")


def pre(text: Any):
    """Text as it was written (tracebacks, JSON, errors), escaped."""
    return format_html('<pre class="autotask-pre">{}</pre>', text) if text else "-"
