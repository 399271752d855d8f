"""Staff screens of the points programme in the Wagtail admin.

Every view checks the permission it needs for GET and POST alike and answers 403 without it
(``core.adminkit.permission_required``). Business actions go through
``loyalty.services``; a ``DomainError`` becomes an error message and changes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.adminkit import permission_required
from core.csvexport import csv_response
from core.errors import DomainError
from core.ratelimit import client_ip
from loyalty import selectors, services
from loyalty.forms import (
    AccountSearchForm,
    AdjustForm,
    CouponImportForm,
    ManualTierForm,
    ReasonForm,
    RedemptionFilterForm,
    new_request_key,
)
from loyalty.models import PointsEntry, PointsLot, Redemption, Reward, TierChange
from members.models import Member

PER_PAGE = 50
EXPORT_LIMIT = 50_000

PERM_VIEW_ACCOUNT = "loyalty.view_pointsaccount"
PERM_ADJUST = "loyalty.adjust_points"
PERM_SET_TIER = "loyalty.set_tier"
PERM_LIABILITY = "loyalty.view_liability"
PERM_VIEW_REDEMPTION = "loyalty.view_redemption"
PERM_CHANGE_REDEMPTION = "loyalty.change_redemption"
PERM_ADD_CODES = "loyalty.add_couponcode"
PERM_VIEW_REWARD = "loyalty.view_reward"


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


# --- Accounts -----------------------------------------------------------------------------------


@permission_required(PERM_VIEW_ACCOUNT)
def account_list(request: HttpRequest) -> HttpResponse:
    form = AccountSearchForm(request.GET or None)
    members = Member.objects.select_related("tier", "points_account").order_by("-pk")
    query = (form.cleaned_data.get("q") or "").strip() if form.is_valid() else ""
    if query:
        members = members.filter(
            Q(display_name__icontains=query)
            | Q(weibo_screen_name__icontains=query)
            | Q(membership_number__icontains=query)
            | Q(weibo_uid=query)
        )
    page = Paginator(members, PER_PAGE).get_page(request.GET.get("p"))
    return render(request, "loyalty/admin/account_list.html", {"form": form, "page": page})


@permission_required(PERM_VIEW_ACCOUNT)
def account_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_object_or_404(Member.objects.select_related("tier", "user"), pk=member_id)
    account = selectors.account_of(member)
    account.member = member
    now = timezone.now()
    entries = (
        PointsEntry.objects.filter(account=account).select_related("actor", "reversed_by")
        if account.pk
        else PointsEntry.objects.none()
    )
    lots = (
        PointsLot.objects.filter(account=account).select_related("entry").order_by("-pk")
        if account.pk
        else PointsLot.objects.none()
    )
    context = {
        "member": member,
        "account": account,
        "summary": selectors.balance_summary(account, now=now, days=30),
        "tier": selectors.tier_progress(account, now=now),
        "entries": Paginator(entries.order_by("-created_at", "-pk"), PER_PAGE).get_page(
            request.GET.get("p")
        ),
        "lots": Paginator(lots, PER_PAGE).get_page(request.GET.get("lp")),
        "tier_changes": TierChange.objects.filter(account=account).select_related(
            "from_tier", "to_tier", "actor"
        )[:50]
        if account.pk
        else [],
        "pending_awards": selectors.pending_awards(account, limit=50),
        "can_adjust": request.user.has_perm(PERM_ADJUST),
        "can_set_tier": request.user.has_perm(PERM_SET_TIER),
        "adjust_form": AdjustForm(initial={"idempotency_key": new_request_key()}),
        "tier_form": ManualTierForm(auto_id="tier_%s"),
        "reason_form": ReasonForm(auto_id="reverse_%s"),
        "reversible": ("earn", "approve", "adjust"),
    }
    return render(request, "loyalty/admin/account_detail.html", context)


def adjust_from_form(request: HttpRequest, member: Member) -> None:
    """Apply a posted adjustment form and say how it went; the admin pages that offer the form
    (the points account, the member page) share it and redirect back to themselves."""
    form = AdjustForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
        return
    try:
        entry = services.points_adjust(
            member=member,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
            counts_for_tier=form.cleaned_data["counts_for_tier"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            ip=client_ip(request),
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已调整 %(amount)+d 积分。") % {"amount": entry.amount})


@permission_required(PERM_ADJUST)
@require_POST
def account_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    adjust_from_form(request, get_object_or_404(Member, pk=member_id))
    return redirect("loyalty_admin:account", member_id=member_id)


@permission_required(PERM_ADJUST)
@require_POST
def entry_reverse(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(PointsEntry.objects.select_related("account"), pk=entry_id)
    try:
        services.points_reverse(
            entry=entry, reason=request.POST.get("reason", ""), actor=request.user,
            ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已冲正该记录。"))
    return redirect("loyalty_admin:account", member_id=entry.account.member_id)


@permission_required(PERM_SET_TIER)
@require_POST
def account_set_tier(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_object_or_404(Member, pk=member_id)
    form = ManualTierForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
    else:
        try:
            services.tier_set_manual(
                member=member,
                tier=form.cleaned_data["tier"],
                until=form.cleaned_data["until"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
                ip=client_ip(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("已手动设置会员等级。"))
    return redirect("loyalty_admin:account", member_id=member.pk)


# --- Redemptions --------------------------------------------------------------------------------


def _filtered_redemptions(request: HttpRequest):
    form = RedemptionFilterForm(request.GET or None)
    redemptions = Redemption.objects.select_related(
        "reward", "account__member", "coupon", "fulfilled_by"
    )
    if not form.is_bound:
        redemptions = redemptions.filter(state=Redemption.State.REQUESTED)
    elif form.is_valid():
        if form.cleaned_data["state"]:
            redemptions = redemptions.filter(state=form.cleaned_data["state"])
        if form.cleaned_data["reward"]:
            redemptions = redemptions.filter(reward=form.cleaned_data["reward"])
        query = form.cleaned_data["q"].strip()
        if query:
            redemptions = redemptions.filter(
                Q(account__member__display_name__icontains=query)
                | Q(account__member__weibo_screen_name__icontains=query)
                | Q(shipping_name__icontains=query)
            )
    return form, redemptions.order_by("created_at", "pk")


@permission_required(PERM_VIEW_REDEMPTION)
def redemption_queue(request: HttpRequest) -> HttpResponse:
    form, redemptions = _filtered_redemptions(request)
    page = Paginator(redemptions, PER_PAGE).get_page(request.GET.get("p"))
    query = request.GET.copy()
    query.pop("p", None)
    context = {
        "form": form,
        "page": page,
        "export_query": query.urlencode(),
        "can_change": request.user.has_perm(PERM_CHANGE_REDEMPTION),
        "return_query": request.GET.urlencode(),
    }
    return render(request, "loyalty/admin/redemption_queue.html", context)


@permission_required(PERM_CHANGE_REDEMPTION)
@require_POST
def redemption_bulk(request: HttpRequest) -> HttpResponse:
    """Fulfil or cancel the ticked redemptions, each in its own transaction."""
    action = request.POST.get("action")
    ids = [int(pk) for pk in request.POST.getlist("ids") if pk.isascii() and pk.isdigit()]
    back = reverse("loyalty_admin:redemptions")
    if request.POST.get("return"):
        back = f"{back}?{request.POST['return']}"
    if action not in ("fulfil", "cancel") or not ids:
        messages.error(request, _("请选择兑换记录和操作。"))
        return redirect(back)
    reason = request.POST.get("reason", "").strip()
    if action == "cancel" and not reason:
        messages.error(request, _("取消兑换需要填写原因。"))
        return redirect(back)
    done, failed = 0, []
    for redemption in Redemption.objects.filter(pk__in=ids).order_by("pk"):
        try:
            if action == "fulfil":
                services.redemption_fulfil(
                    redemption=redemption, actor=request.user, note=request.POST.get("note", ""),
                    ip=client_ip(request),
                )  # fmt: skip
            else:
                services.redemption_cancel(
                    redemption=redemption, actor=request.user, reason=reason,
                    ip=client_ip(request),
                )  # fmt: skip
            done += 1
        except DomainError as error:
            failed.append(f"#{redemption.pk}: {error.message}")
    if done:
        messages.success(request, _("已处理 %(n)s 笔兑换。") % {"n": done})
    for line in failed:
        messages.error(request, line)
    return redirect(back)


@permission_required(PERM_VIEW_REDEMPTION)
def redemption_export(request: HttpRequest) -> HttpResponse:
    _form, redemptions = _filtered_redemptions(request)
    header = [
        _("编号"), _("兑换时间"), _("会员"), _("会员编号"), _("礼品"), _("积分"), _("状态"),
        _("券码"), _("收货人"), _("联系电话"), _("收货地址"), _("发放时间"), _("备注"),
    ]  # fmt: skip
    rows = (
        [
            r.pk,
            _local(r.created_at),
            str(r.account.member),
            r.account.member_id,
            r.reward.name,
            r.cost,
            r.get_state_display(),
            getattr(getattr(r, "coupon", None), "code", ""),
            r.shipping_name,
            r.shipping_phone,
            r.shipping_address,
            _local(r.fulfilled_at),
            r.staff_note or r.close_reason,
        ]
        for r in redemptions[:EXPORT_LIMIT].iterator(chunk_size=2000)
    )
    return csv_response("redemptions.csv", header, rows)


# --- Rewards and liability ----------------------------------------------------------------------


@permission_required(PERM_VIEW_REWARD, PERM_ADD_CODES)
def reward_stock(request: HttpRequest) -> HttpResponse:
    rewards = Reward.objects.select_related("min_tier").annotate(
        codes_total=Count("coupon_codes"),
        codes_free=Count("coupon_codes", filter=Q(coupon_codes__redemption__isnull=True)),
    )
    context = {"rewards": rewards, "can_add_codes": request.user.has_perm(PERM_ADD_CODES)}
    return render(request, "loyalty/admin/reward_stock.html", context)


@permission_required(PERM_ADD_CODES)
def reward_codes(request: HttpRequest, pk: int) -> HttpResponse:
    reward = get_object_or_404(Reward, pk=pk)
    form = CouponImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.coupon_codes_add(
                reward=reward, codes=form.code_list(), actor=request.user, ip=client_ip(request)
            )
        except DomainError as error:
            form.add_error("codes", error.message)
        else:
            messages.success(request, _("已导入 %(n)s 个券码。") % {"n": added})
            return redirect("loyalty_admin:rewards")
    context = {"reward": reward, "form": form, "pool": selectors.coupon_pool(reward)}
    return render(request, "loyalty/admin/reward_codes.html", context)


@permission_required(PERM_LIABILITY)
def liability(request: HttpRequest) -> HttpResponse:
    data = selectors.liability(now=timezone.now())
    return render(request, "loyalty/admin/liability.html", {"data": data})
