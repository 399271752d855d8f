"""Wagtail admin wiring of taking part: its URLs, its "社区管理" menu entry, publish hooks.

The "社区管理" submenu may be registered by another community screen (moderation); this module
adds "领取与报名" to that submenu when it exists, and otherwise adds the submenu itself, so the
admin never shows the section twice.
"""

from __future__ import annotations

from django.urls import include, path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem

from community.models import ActivityPage, OfferPage
from community.participation import admin_views as views
from community.participation import services
from core.adminkit import PermissionMenuItem

COMMUNITY_MENU_NAME = "community-admin"

admin_urlpatterns = [
    path("", views.overview, name="overview"),
    path("offers/<int:pk>/", views.offer_detail, name="offer"),
    path("offers/<int:pk>/codes/", views.offer_codes_upload, name="offer_codes"),
    path("offers/<int:pk>/claims.csv", views.offer_claims_export, name="offer_claims_csv"),
    path("offers/<int:pk>/claims/<int:claim_pk>/cancel/", views.offer_claim_cancel,
         name="offer_claim_cancel"),
    path("activities/<int:pk>/", views.activity_detail, name="activity"),
    path("activities/<int:pk>/registrations.csv", views.registrations_export,
         name="registrations_csv"),
    path("registrations/<int:pk>/checkin/", views.registration_checkin, name="checkin"),
    path("items/<int:pk>/allocation/", views.allocation_update, name="allocation"),
    path("items/<int:pk>/draw/run/", views.draw_run, name="draw_run"),
]  # fmt: skip


@hooks.register("register_admin_urls")
def register_participation_admin_urls():
    return [path("community/participation/", include((admin_urlpatterns, "participation_admin")))]


def participation_menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        _("领取与报名"), reverse("participation_admin:overview"), views.OVERVIEW_PERMS,
        name="community-participation", icon_name="tasks", order=400,
    )  # fmt: skip


@hooks.register("construct_main_menu")
def add_participation_to_community_menu(request, menu_items):
    item = participation_menu_item()
    if not item.is_shown(request):
        return
    for index, existing in enumerate(menu_items):
        if existing.name == COMMUNITY_MENU_NAME and isinstance(existing, SubmenuMenuItem):
            menu_items[index] = SubmenuMenuItem(
                existing.label, Menu(items=[*existing.menu.registered_menu_items, item]),
                name=existing.name, icon_name=existing.icon_name, order=existing.order,
            )  # fmt: skip
            return
    menu_items.append(
        SubmenuMenuItem(
            _("社区管理"),
            Menu(items=[item]),
            name=COMMUNITY_MENU_NAME,
            icon_name="group",
            order=260,
        )  # fmt: skip
    )


@hooks.register("after_publish_page")
def follow_stock_and_capacity(request, page):
    """A published offer's stock or activity's capacity takes effect at once (a bigger
    capacity promotes waiting members)."""
    specific = page.specific
    if isinstance(specific, OfferPage):
        services.offer_inventory_sync(offer=specific)
    elif isinstance(specific, ActivityPage):
        services.activity_seats_sync(activity=specific)
