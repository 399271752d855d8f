"""The "会员" section of the Wagtail admin: its menu and its URLs (views in ``admin_views``).

``AdmissionSettings`` is a generic setting and appears under Settings on its own.
"""

from __future__ import annotations

from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem

from core.adminkit import PermissionMenuItem
from members import admin_views as views
from members import consent_admin as consent_views

admin_urlpatterns = [
    path("", views.member_list, name="member_list"),
    path("export.csv", views.member_export, name="member_export"),
    path("notify/", views.segment_notify, name="segment_notify"),
    path("<int:pk>/", views.member_detail, name="member_detail"),
    path("<int:pk>/suspend/", views.member_suspend, name="member_suspend"),
    path("<int:pk>/reinstate/", views.member_reinstate, name="member_reinstate"),
    path("<int:pk>/tier/", views.member_set_tier, name="member_set_tier"),
    path("<int:pk>/birthday/", views.member_birthday_correct, name="member_birthday"),
    path("<int:pk>/points/", views.member_adjust_points, name="member_adjust_points"),
    path("applications/", views.application_queue, name="applications"),
    path("applications/<int:pk>/decide/", views.application_decide, name="application_decide"),
    path("invitations/", views.invitation_list, name="invitations"),
    path("invitations/new/", views.invitation_batch_create, name="invitation_create"),
    path("invitations/batch/", views.invitation_batch, name="invitation_batch"),
    path("invitations/export.csv", views.invitation_export, name="invitation_export"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("consent/", consent_views.consent_text_list, name="consent_list"),
    path("consent/new/", consent_views.consent_text_create, name="consent_create"),
    path("consent/<int:pk>/", consent_views.consent_text_detail, name="consent_detail"),
    path("consent/<int:pk>/edit/", consent_views.consent_text_edit, name="consent_edit"),
    path("consent/<int:pk>/compare/", consent_views.consent_text_compare, name="consent_compare"),
    path("consent/<int:pk>/submit/", consent_views.consent_text_submit, name="consent_submit"),
    path("consent/<int:pk>/review/", consent_views.consent_text_review, name="consent_review"),
]


@hooks.register("register_admin_urls")
def register_members_admin_urls():
    return [path("members/", include((admin_urlpatterns, "members_admin")))]


@hooks.register("register_admin_menu_item")
def register_members_menu():
    items = [
        PermissionMenuItem(
            _("入会申请"), reverse("members_admin:applications"),
            (views.PERM_APPLICATIONS,), name="member-applications", icon_name="tasks", order=100,
        ),
        PermissionMenuItem(
            _("会员"), reverse("members_admin:member_list"),
            (views.PERM_VIEW_MEMBER,), name="member-list", icon_name="user", order=200,
        ),
        PermissionMenuItem(
            _("邀请码"), reverse("members_admin:invitations"),
            (views.PERM_VIEW_INVITATIONS, views.PERM_ADD_INVITATIONS),
            name="member-invitations", icon_name="key", order=300,
        ),
        PermissionMenuItem(
            _("客户名单导入"), reverse("members_admin:imports"),
            (views.PERM_VIEW_IMPORTS, views.PERM_ADD_IMPORTS),
            name="member-imports", icon_name="upload", order=400,
        ),
        PermissionMenuItem(
            _("授权说明"), reverse("members_admin:consent_list"), consent_views.ANY_CONSENT_PERM,
            name="member-consent", icon_name="doc-full", order=500,
        ),
    ]  # fmt: skip
    return SubmenuMenuItem(
        _("会员"), Menu(items=items), name="members", icon_name="group", order=250
    )
