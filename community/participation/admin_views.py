"""Staff screens of claims and registrations in the Wagtail admin (社区管理 → 领取与报名).

Every view checks the Django model permission it needs (GET and POST alike) and answers 403
without it; writes go through ``community.participation.services``. Coupon codes are never
shown in these pages (only counts); the claim CSV carries them for reconciliation.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from wagtail.models import Page

from community.models import (
    ActivityPage,
    Draw,
    ItemAllocation,
    OfferClaim,
    OfferPage,
    Registration,
)
from community.models_allocation import DEFAULT_HOLD_HOURS
from community.participation import selectors, services
from core.adminkit import has_any_perm, permission_required
from core.csvexport import csv_response
from core.errors import DomainError
from core.ratelimit import client_ip
from members.models import Tier

PER_PAGE = 50
MAX_UPLOAD_BYTES = 2 * 1024 * 1024

PERM_VIEW_CLAIMS = "community.view_offerclaim"
PERM_ADD_CODES = "community.add_offercode"
PERM_CANCEL_CLAIMS = "community.add_offerclaimcancellation"
PERM_VIEW_REGISTRATIONS = "community.view_registration"
PERM_CHECKIN = "community.change_registration"  # also the card scanner's (checkin_views)
PERM_ALLOCATE = "community.change_itemallocation"
OVERVIEW_PERMS = (PERM_VIEW_CLAIMS, PERM_ADD_CODES, PERM_VIEW_REGISTRATIONS, PERM_CHECKIN,
                  PERM_ALLOCATE)  # fmt: skip
OFFER_PERMS = (PERM_VIEW_CLAIMS, PERM_ADD_CODES, PERM_ALLOCATE)
ACTIVITY_PERMS = (PERM_VIEW_REGISTRATIONS, PERM_CHECKIN, PERM_ALLOCATE)


class CodeUploadForm(forms.Form):
    codes = forms.CharField(
        label=gettext_lazy("券码（每行一个）"), required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )  # fmt: skip
    file = forms.FileField(
        label=gettext_lazy("或上传 CSV 文件"), required=False,
        help_text=gettext_lazy("每行一个券码，取第一列；重复的券码会被跳过。"),
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        text = data.get("codes") or ""
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(_("文件太大（最大 2 MB）。"))
            try:
                text += "\n" + upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(_("文件须为 UTF-8 编码的 CSV。")) from None
        data["parsed"] = services.parse_codes(text)
        if not data["parsed"]:
            raise forms.ValidationError(_("请填写或上传至少一个券码。"))
        return data


class AllocationForm(forms.Form):
    """First come or a draw, the hold duration, the entry window and a weight per tier."""

    mode = forms.ChoiceField(label=gettext_lazy("分配方式"), choices=ItemAllocation.Mode.choices)
    hold_hours = forms.IntegerField(
        label=gettext_lazy("保留时长（小时）"), min_value=1, max_value=24 * 14,
        initial=DEFAULT_HOLD_HOURS,
        help_text=gettext_lazy("候补或中签的会员须在此时长内确认，否则名额顺延给下一位。"),
    )  # fmt: skip
    entries_open_at = forms.DateTimeField(
        label=gettext_lazy("抽签报名开始"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    entries_close_at = forms.DateTimeField(
        label=gettext_lazy("抽签报名截止"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )  # fmt: skip

    def __init__(self, *args, tiers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tiers = list(tiers)
        for tier in self.tiers:
            self.fields[f"weight_{tier.code}"] = forms.IntegerField(
                label=gettext_lazy("%(tier)s 权重") % {"tier": tier.name},
                min_value=1, max_value=100, initial=1,
            )  # fmt: skip

    def weights(self) -> dict[str, int]:
        return {tier.code: self.cleaned_data[f"weight_{tier.code}"] for tier in self.tiers}


def _allocation_form(item, data=None) -> AllocationForm:
    allocation = services.allocation_of(item)
    initial = {"mode": ItemAllocation.Mode.FIRST_COME, "hold_hours": DEFAULT_HOLD_HOURS}
    if allocation is not None:
        initial.update(
            mode=allocation.mode, hold_hours=allocation.hold_hours,
            entries_open_at=allocation.entries_open_at and timezone.localtime(
                allocation.entries_open_at),
            entries_close_at=allocation.entries_close_at and timezone.localtime(
                allocation.entries_close_at),
        )  # fmt: skip
        for code, weight in (allocation.tier_weights or {}).items():
            initial[f"weight_{code}"] = weight
    return AllocationForm(data, initial=initial, tiers=Tier.objects.order_by("rank"))


def _allocation_context(request: HttpRequest, item) -> dict:
    """The allocation section of an item's staff page: settings, draw and waiting list."""
    if not request.user.has_perm(PERM_ALLOCATE):
        return {"can_allocate": False}
    draw = Draw.objects.filter(item_id=item.pk).first()
    return {
        "can_allocate": True,
        "allocation_form": _allocation_form(item),
        "draw": draw,
        "draw_entries": list(selectors.draw_entries_for_staff(item)[:500]) if draw else [],
        "draw_due": draw is not None and not draw.drawn
        and services.allocation_of(item).entries_close_at <= timezone.now(),
        "waitlist": list(selectors.offer_waitlist(item)[:500])
        if isinstance(item, OfferPage) else [],
    }  # fmt: skip


def _item_admin_url(item) -> str:
    name = (
        "participation_admin:offer"
        if isinstance(item, OfferPage)
        else "participation_admin:activity"
    )
    return reverse(name, kwargs={"pk": item.pk})


def _staff_item(pk: int):
    page = get_object_or_404(Page, pk=pk).specific
    if not isinstance(page, OfferPage | ActivityPage):
        raise Http404
    return page


@permission_required(PERM_ALLOCATE)
@require_POST
def allocation_update(request: HttpRequest, pk: int) -> HttpResponse:
    item = _staff_item(pk)
    form = _allocation_form(item, request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}：{error}" if label else error)
        return redirect(_item_admin_url(item))
    data = form.cleaned_data
    try:
        services.allocation_configure(
            item=item, actor=request.user, mode=data["mode"], hold_hours=data["hold_hours"],
            entries_open_at=data["entries_open_at"], entries_close_at=data["entries_close_at"],
            tier_weights=form.weights(), ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("分配设置已保存。"))
    return redirect(_item_admin_url(item))


@permission_required(PERM_ALLOCATE)
@require_POST
def draw_run(request: HttpRequest, pk: int) -> HttpResponse:
    item = _staff_item(pk)
    try:
        draw, ran = services.draw_run(item=item, actor=request.user, ip=client_ip(request))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if ran:
            messages.success(
                request, _("已开奖：%(n)s 个名额已为中签会员保留。") % {"n": draw.units}
            )
        else:
            messages.info(request, _("这次抽签之前已经开奖，没有任何改变。"))
    return redirect(_item_admin_url(item))


def _page(request: HttpRequest, queryset):
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("p"))


@permission_required(*OVERVIEW_PERMS)
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    offers = list(selectors.offers_overview()) if has_any_perm(user, OFFER_PERMS) else []
    activities = list(selectors.activities_overview()) if has_any_perm(user, ACTIVITY_PERMS) else []
    views = selectors.views_by_tier([item.pk for item in [*offers, *activities]])
    for item in [*offers, *activities]:
        item.views_by_tier = views.get(item.pk, [])
    return render(
        request,
        "community/participation/admin/overview.html",
        {"offers": offers, "activities": activities},
    )


@permission_required(*OFFER_PERMS)
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    offer = get_object_or_404(OfferPage, pk=pk)
    can_view_claims = request.user.has_perm(PERM_VIEW_CLAIMS)
    context = {
        "offer": offer,
        "views": selectors.views_by_tier([offer.pk]).get(offer.pk, []),
        "pool": selectors.pool_counts(offer),
        "stock": selectors.offer_stock(offer),
        "can_view_claims": can_view_claims,
        "can_cancel_claims": request.user.has_perm(PERM_CANCEL_CLAIMS),
        "can_upload": request.user.has_perm(PERM_ADD_CODES)
        and offer.code_mode == OfferPage.CodeMode.POOL,
        "page": _page(request, selectors.offer_claims(offer)) if can_view_claims else None,
        "form": CodeUploadForm(),
        **_allocation_context(request, offer),
    }
    return render(request, "community/participation/admin/offer_detail.html", context)


class ClaimCancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("取消原因"), max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("会员会在通知里看到这段原因，审计日志也会记下它。"),
    )  # fmt: skip


@permission_required(PERM_VIEW_CLAIMS)
@permission_required(PERM_CANCEL_CLAIMS)
def offer_claim_cancel(request: HttpRequest, pk: int, claim_pk: int) -> HttpResponse:
    """Confirm, then take one claim back (``services.offer_claim_cancel`` says what it undoes)."""
    offer = get_object_or_404(OfferPage, pk=pk)
    claim = get_object_or_404(
        OfferClaim.objects.select_related("member", "member__tier", "cancellation"),
        pk=claim_pk, offer=offer,
    )  # fmt: skip
    form = ClaimCancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            cancellation = services.offer_claim_cancel(
                claim=claim, actor=request.user, reason=form.cleaned_data["reason"],
                ip=client_ip(request),
            )  # fmt: skip
        except DomainError as error:
            form.add_error("reason", error.message)
        else:
            messages.success(
                request,
                _("已取消 %(member)s 的领取：退回 %(refunded)s 积分，收回奖励 %(taken)s 积分。")
                % {"member": claim.member, "refunded": cancellation.points_refunded,
                   "taken": cancellation.points_taken_back},
            )  # fmt: skip
            return redirect("participation_admin:offer", pk=offer.pk)
    context = {
        "offer": offer,
        "claim": claim,
        "cancellation": getattr(claim, "cancellation", None),
        "form": form,
    }
    return render(request, "community/participation/admin/claim_cancel.html", context)


@permission_required(PERM_ADD_CODES)
@require_POST
def offer_codes_upload(request: HttpRequest, pk: int) -> HttpResponse:
    offer = get_object_or_404(OfferPage, pk=pk)
    form = CodeUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("__all__", []) or [_("券码格式不正确。")]:
            messages.error(request, error)
        return redirect("participation_admin:offer", pk=offer.pk)
    try:
        result = services.offer_codes_add(
            offer=offer, codes=form.cleaned_data["parsed"], actor=request.user,
            ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("已添加 %(added)s 个券码，跳过重复 %(dup)s 个；券码池共 %(total)s 个。")
            % {"added": result.added, "dup": result.duplicates, "total": result.total},
        )
    return redirect("participation_admin:offer", pk=offer.pk)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _member_cells(member) -> list:
    return [member.display_name or member.weibo_screen_name, member.membership_number or "",
            member.weibo_screen_name, member.tier.name if member.tier else ""]  # fmt: skip


@permission_required(PERM_VIEW_CLAIMS)
def offer_claims_export(request: HttpRequest, pk: int) -> HttpResponse:
    offer = get_object_or_404(OfferPage, pk=pk)
    header = [_("会员"), _("会员卡号"), _("微博昵称"), _("等级"), _("券码"), _("消耗积分"),
              _("领取时间"), _("取消时间"), _("取消原因"), _("退回积分")]  # fmt: skip

    def row(claim) -> list:
        cancellation = getattr(claim, "cancellation", None)
        cancelled = (
            [_local(cancellation.created_at), cancellation.reason, cancellation.points_refunded]
            if cancellation is not None
            else ["", "", ""]
        )
        return [*_member_cells(claim.member), claim.code, claim.points_spent,
                _local(claim.created_at), *cancelled]  # fmt: skip

    rows = (row(claim) for claim in selectors.offer_claims(offer).iterator(chunk_size=2000))
    return csv_response(f"offer-{offer.pk}-claims.csv", header, rows)


@permission_required(*ACTIVITY_PERMS)
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(ActivityPage, pk=pk)
    can_view = has_any_perm(request.user, (PERM_VIEW_REGISTRATIONS, PERM_CHECKIN))
    context = {
        "activity": activity,
        "counts": selectors.registration_counts(activity),
        "views": selectors.views_by_tier([activity.pk]).get(activity.pk, []),
        "can_view": can_view,
        "can_checkin": request.user.has_perm(PERM_CHECKIN),
        "page": _page(request, selectors.activity_registrations(activity)) if can_view else None,
        **_allocation_context(request, activity),
    }
    return render(request, "community/participation/admin/activity_detail.html", context)


@permission_required(PERM_CHECKIN)
@require_POST
def registration_checkin(request: HttpRequest, pk: int) -> HttpResponse:
    registration = get_object_or_404(Registration.objects.select_related("member"), pk=pk)
    try:
        _registration, first = services.registration_checkin(
            registration=registration, method=Registration.CheckinMethod.STAFF,
            actor=request.user, ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        name = str(registration.member)
        if first:
            messages.success(request, _("%(name)s 已签到。") % {"name": name})
        else:
            messages.info(request, _("%(name)s 之前已经签到过了。") % {"name": name})
    return redirect("participation_admin:activity", pk=registration.activity_id)


@permission_required(PERM_VIEW_REGISTRATIONS)
def registrations_export(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(ActivityPage, pk=pk)
    header = [_("会员"), _("会员卡号"), _("微博昵称"), _("等级"), _("状态"), _("候补位置"),
              _("报名时间"), _("签到时间"), _("签到方式")]  # fmt: skip
    rows = (
        [*_member_cells(reg.member), reg.get_state_display(),
         reg.position if reg.state == Registration.State.WAITLISTED else "",
         _local(reg.created_at), _local(reg.attended_at), reg.get_checkin_method_display()]
        for reg in selectors.activity_registrations(activity).iterator(chunk_size=2000)
    )  # fmt: skip
    return csv_response(f"activity-{activity.pk}-registrations.csv", header, rows)
