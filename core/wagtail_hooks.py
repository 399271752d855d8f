"""Admin wiring of core: the live counters panel on the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import user_passes_test
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.ui.components import Component

from core.adminkit import PermissionMenuItem
from core.live_counters import live_counters


class LiveCountersPanel(Component):
    name = "live_counters"
    order = 50
    template_name = "core/admin/live_counters_panel.html"

    def get_context_data(self, parent_context=None):
        return {"counters": live_counters()}


@hooks.register("construct_homepage_panels")
def add_live_counters(request, panels):
    if request.user.is_staff:
        panels.insert(0, LiveCountersPanel())


@user_passes_test(lambda user: user.is_active and user.is_staff)
def counters_json(request):
    return JsonResponse({"counters": live_counters()}, json_dumps_params={"ensure_ascii": False})


@hooks.register("register_admin_urls")
def live_urls():
    from core import admin_views

    return [
        path("club/live-counters.json", counters_json, name="club_live_counters"),
        path("audit/", admin_views.audit_log, name="club_audit_log"),
        path("audit/export.csv", admin_views.audit_export, name="club_audit_export"),
    ]


@hooks.register("register_admin_menu_item")
def audit_menu_item():
    return PermissionMenuItem(
        _("审计日志"),
        reverse("club_audit_log"),
        ("core.view_auditentry",),
        icon_name="history",
        order=9000,
    )
