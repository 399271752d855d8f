"""The "积分" section of the Wagtail admin: snippets for rules, tier thresholds and rewards, and the
staff screens (views in ``admin_views``). ``LoyaltySettings`` appears under Settings on its own.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import ProtectedError
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail import hooks
from wagtail.admin.menu import Menu, SubmenuMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import DeleteView, SnippetViewSet

from core.adminkit import PermissionMenuItem
from loyalty import admin_views as views
from loyalty.models import EarningRule, Reward, TierRequirement


class LedgerProtectedDeleteView(DeleteView):
    """Rules and rewards the ledger refers to cannot be deleted (PROTECT): say so, don't fail."""

    def form_valid(self, form):
        try:
            with transaction.atomic():
                return super().form_valid(form)
        except ProtectedError:
            messages.error(
                self.request, _("已有积分记录或兑换引用它，不能删除；请改为停用或下架。")
            )
            return redirect(reverse(self.index_url_name))


class EarningRuleViewSet(SnippetViewSet):
    model = EarningRule
    icon = "pick"
    menu_label = gettext_lazy("积分规则")
    add_to_admin_menu = False
    list_display = ["name", "trigger", "points", "pending_days", "enabled", "active_until"]
    list_filter = ["trigger", "enabled"]
    search_fields = ["name"]
    delete_view_class = LedgerProtectedDeleteView


class TierRequirementViewSet(SnippetViewSet):
    model = TierRequirement
    icon = "group"
    menu_label = gettext_lazy("等级门槛")
    add_to_admin_menu = False
    list_display = ["tier", "threshold", "retain_percent", "grace_days"]


class RewardViewSet(SnippetViewSet):
    model = Reward
    icon = "tag"
    menu_label = gettext_lazy("积分礼品")
    add_to_admin_menu = False
    list_display = ["name", "cost", "min_tier", "fulfilment", "stock_total", "issued", "live"]
    list_filter = ["fulfilment", "live"]
    search_fields = ["name"]
    delete_view_class = LedgerProtectedDeleteView


register_snippet(EarningRuleViewSet)
register_snippet(TierRequirementViewSet)
register_snippet(RewardViewSet)


admin_urlpatterns = [
    path("accounts/", views.account_list, name="accounts"),
    path("accounts/<int:member_id>/", views.account_detail, name="account"),
    path("accounts/<int:member_id>/adjust/", views.account_adjust, name="adjust"),
    path("accounts/<int:member_id>/tier/", views.account_set_tier, name="set_tier"),
    path("entries/<int:entry_id>/reverse/", views.entry_reverse, name="reverse"),
    path("redemptions/", views.redemption_queue, name="redemptions"),
    path("redemptions/bulk/", views.redemption_bulk, name="redemption_bulk"),
    path("redemptions/export.csv", views.redemption_export, name="redemption_export"),
    path("rewards/", views.reward_stock, name="rewards"),
    path("rewards/<int:pk>/codes/", views.reward_codes, name="reward_codes"),
    path("liability/", views.liability, name="liability"),
]


@hooks.register("register_admin_urls")
def register_loyalty_admin_urls():
    return [path("points/", include((admin_urlpatterns, "loyalty_admin")))]


@hooks.register("register_admin_menu_item")
def register_loyalty_menu():
    items = [
        PermissionMenuItem(
            _("兑换发放"), reverse("loyalty_admin:redemptions"),
            (views.PERM_VIEW_REDEMPTION,), name="points-redemptions", icon_name="tasks", order=100,
        ),
        PermissionMenuItem(
            _("会员积分"), reverse("loyalty_admin:accounts"),
            (views.PERM_VIEW_ACCOUNT,), name="points-accounts", icon_name="user", order=200,
        ),
        PermissionMenuItem(
            _("礼品库存与券码"), reverse("loyalty_admin:rewards"),
            (views.PERM_VIEW_REWARD, views.PERM_ADD_CODES), name="points-stock", icon_name="tag",
            order=300,
        ),
        PermissionMenuItem(
            _("积分礼品"), reverse("wagtailsnippets_loyalty_reward:list"),
            ("loyalty.add_reward", "loyalty.change_reward"), name="points-rewards",
            icon_name="form", order=400,
        ),
        PermissionMenuItem(
            _("积分规则"), reverse("wagtailsnippets_loyalty_earningrule:list"),
            ("loyalty.add_earningrule", "loyalty.change_earningrule"), name="points-rules",
            icon_name="pick", order=500,
        ),
        PermissionMenuItem(
            _("等级门槛"), reverse("wagtailsnippets_loyalty_tierrequirement:list"),
            ("loyalty.add_tierrequirement", "loyalty.change_tierrequirement"),
            name="points-tiers", icon_name="group", order=600,
        ),
        PermissionMenuItem(
            _("积分负债"), reverse("loyalty_admin:liability"),
            (views.PERM_LIABILITY,), name="points-liability", icon_name="table", order=700,
        ),
    ]  # fmt: skip
    return SubmenuMenuItem(
        gettext_lazy("积分"), Menu(items=items), name="points", icon_name="pick", order=260
    )
