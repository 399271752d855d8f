"""Admin wiring for sharing: the results page, and the live Weibo length counter in the editor."""

from __future__ import annotations

from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks

from core.adminkit import PermissionMenuItem
from share import admin_views


@hooks.register("register_admin_urls")
def register_share_admin_urls():
    return [path("shares/", admin_views.share_stats, name="share_stats")]


@hooks.register("register_admin_menu_item")
def register_share_menu():
    return PermissionMenuItem(
        _("微博分享"), reverse("share_stats"), perms=admin_views.VIEW_PERMS, icon_name="link",
        order=460,
    )  # fmt: skip
