"""The "合作伙伴" section of the Wagtail admin: the partner snippet (every create and edit
audited with what changed), API keys and monthly statements (views in ``admin_views``)."""

from __future__ import annotations

from django.db import transaction
from django.urls import include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import CreateView, EditView, SnippetViewSet

from core.adminkit import PermissionMenuItem
from core.ratelimit import client_ip
from loyalty.models import Partner
from loyalty.wagtail_hooks import LedgerProtectedDeleteView
from partners import admin_views as views
from partners import services


class AuditedCreateView(CreateView):
    def save_instance(self):
        with transaction.atomic():
            instance = super().save_instance()
            services.partner_change_record(
                partner=instance, before=None, actor=self.request.user,
                ip=client_ip(self.request),
            )  # fmt: skip
        return instance


class AuditedEditView(EditView):
    def save_instance(self):
        before = services.partner_snapshot(Partner.objects.get(pk=self.object.pk))
        with transaction.atomic():
            instance = super().save_instance()
            services.partner_change_record(
                partner=instance, before=before, actor=self.request.user,
                ip=client_ip(self.request),
            )  # fmt: skip
        return instance


class PartnerViewSet(SnippetViewSet):
    model = Partner
    icon = "site"
    menu_label = gettext_lazy("合作伙伴")
    add_to_admin_menu = False
    list_display = ["name", "code", "state", "point_value", "counts_for_tier"]
    list_filter = ["state"]
    search_fields = ["name", "code"]
    add_view_class = AuditedCreateView
    edit_view_class = AuditedEditView
    delete_view_class = LedgerProtectedDeleteView


register_snippet(PartnerViewSet)


admin_urlpatterns = [
    path("", views.partner_list, name="list"),
    path("<int:pk>/keys/", views.partner_keys, name="keys"),
    path("<int:pk>/statements/", views.partner_statements, name="statements"),
    path("<int:pk>/statements/export.csv", views.statement_csv, name="statement_csv"),
    path("<int:pk>/statements/print/", views.statement_print, name="statement_print"),
    path("<int:pk>/statements/close/", views.statement_close, name="statement_close"),
]


@hooks.register("register_admin_urls")
def register_partner_admin_urls():
    return [path("partners/", include((admin_urlpatterns, "partners_admin")))]


@hooks.register("register_admin_menu_item")
def register_partner_menu():
    items = [
        PermissionMenuItem(
            _("合作伙伴与对账"), reverse("partners_admin:list"),
            (views.PERM_VIEW, views.PERM_CHANGE), name="partners-list", icon_name="table",
            order=100,
        ),
        PermissionMenuItem(
            _("编辑合作伙伴"), reverse("wagtailsnippets_loyalty_partner:list"),
            ("loyalty.add_partner", "loyalty.change_partner"), name="partners-edit",
            icon_name="site", order=200,
        ),
    ]  # fmt: skip
    return SubmenuMenuItem(
        gettext_lazy("合作伙伴"), Menu(items=items), name="partners", icon_name="site", order=265
    )
