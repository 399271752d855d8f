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


@hooks.register("register_admin_urls")
def logged_image_upload_urls():
    """Wagtail's multiple-upload routes (same paths, registered before Wagtail's own, so they
    win), served by views that log what staff do there (``core.wagtail_audit``)."""
    from core import wagtail_audit

    return [
        path("images/multiple/add/", wagtail_audit.AddView.as_view()),
        path("images/multiple/<int:image_id>/", wagtail_audit.EditView.as_view()),
        path(
            "images/multiple/create_from_uploaded_image/<int:uploaded_file_id>/",
            wagtail_audit.CreateFromUploadedImageView.as_view(),
        ),
        path("images/multiple/<int:image_id>/delete/", wagtail_audit.DeleteView.as_view()),
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


# --- The dashboard (数据看板): charts and reports, and its headlines on the admin home ----------


@hooks.register("register_admin_urls")
def reports_urls():
    from core.reports import views as reports

    return [
        path("reports/", reports.reports_index, name="club_reports"),
        path("reports/<slug:slug>/", reports.report_chart, name="club_report"),
    ]


@hooks.register("register_admin_menu_item")
def reports_menu_item():
    from core.reports.catalogue import ALL_PERMS

    return PermissionMenuItem(
        _("数据看板"), reverse("club_reports"), ALL_PERMS, icon_name="chart-line", order=150
    )


@hooks.register("register_icons")
def reports_icons(icons):
    return icons + ["core/reports/icons/chart-line.svg"]


@hooks.register("construct_homepage_panels")
def add_dashboard_panel(request, panels):
    from core.reports.views import dashboard_panel_for

    panel = dashboard_panel_for(request)
    if panel is not None:
        panels.insert(1 if panels and isinstance(panels[0], LiveCountersPanel) else 0, panel)
