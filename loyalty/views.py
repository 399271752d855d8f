"""Member pages under /points/: balance, tier, history, expiry calendar, rewards, redemptions.

Only admitted members see them: visitors go to the login page, applicants to the join page,
everyone else (suspended, left, staff without a member record) to the welcome router. Views
parse input, call one service or selector, and render.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import htmx, pagecache
from core.errors import DomainError
from core.ratelimit import rate_limited
from loyalty import errors, selectors, services
from loyalty.forms import LedgerFilterForm, RedeemForm, new_request_key
from loyalty.models import PointsAccount, Redemption, Reward
from members.models import Member
from members.selectors import viewer_for_request

REDEEM_RATE_LIMIT = 20  # redemption attempts per member per minute
REDEMPTIONS_PER_PAGE = 20

ERROR_STATUS = {
    errors.InsufficientPoints.code: 409,
    errors.OutOfStock.code: 409,
    errors.LimitReached.code: 409,
    errors.IdempotencyKeyReused.code: 422,
    errors.AccountSuspended.code: 403,
    errors.NotAMember.code: 403,
    errors.TierTooLow.code: 403,
}


def member_required(view: Callable) -> Callable:
    """Admitted members only; ``request.member`` is set for the view."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("members:login"))
        # The viewer read once per request (the site header reuses it).
        member = viewer_for_request(request).member
        if member is None:
            return redirect("members:welcome")
        if member.state == Member.State.APPLICANT:
            return redirect("members:join")
        if member.state != Member.State.MEMBER:
            return redirect("members:welcome")
        request.member = member
        return view(request, *args, **kwargs)

    return wrapped


def _account(request: HttpRequest):
    account = selectors.account_of(request.member)
    account.member = request.member
    return account


def _account_version_sql(member_id: int) -> tuple[str, list]:
    """The account row's version (PostgreSQL ``xmin``): every balance, pending or tier change
    rewrites the row, so a kept points page is never shown after one."""
    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    return f"SELECT xmin::text FROM {table} WHERE member_id = %s", [member_id]


@member_required
@pagecache.personal_page(version_sql=_account_version_sql)
def overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    settings_ = selectors.loyalty_settings()
    account = _account(request)
    rules = selectors.earning_rules_for(request.member, now=now)
    context = {
        "member": request.member,
        "summary": selectors.balance_summary(account, now=now, days=settings_.reminder_days),
        "tier": selectors.tier_progress(account, now=now),
        "pending_awards": selectors.pending_awards(account),
        "rules": rules,
        "checkin_available": settings_.checkin_enabled
        and any(rule.trigger == "daily_checkin" for rule in rules),
        "checked_in": selectors.checked_in_today(account, now=now),
        "tab": "overview",
    }
    return render(request, "loyalty/overview.html", context)


@member_required
@require_POST
def checkin(request: HttpRequest) -> HttpResponse:
    try:
        awards = services.points_checkin(member=request.member)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        points = sum(award.points for award in awards if award.created)
        messages.success(request, _("签到成功，获得 %(points)s 积分。") % {"points": points})
    return redirect("loyalty:overview")


@member_required
def history(request: HttpRequest) -> HttpResponse:
    form = LedgerFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else {}
    account = _account(request)
    page = selectors.ledger_page(account, cursor=request.GET.get("after", ""), **filters)
    base = request.GET.copy()
    base.pop("after", None)
    following = base.copy()
    if page.next_cursor:
        following["after"] = page.next_cursor
    context = {
        "form": form,
        "page": page,
        "next_query": following.urlencode() if page.next_cursor else "",
        "base_query": base.urlencode(),
        "later_page": bool(request.GET.get("after")),
        "tab": "history",
    }
    return render(request, "loyalty/history.html", context)


@member_required
def expiry(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    account = _account(request)
    context = {
        "calendar": selectors.expiry_calendar(account, now=now),
        "never_expiring": selectors.never_expiring(account),
        "settings": selectors.loyalty_settings(),
        "tab": "expiry",
    }
    return render(request, "loyalty/expiry.html", context)


def _available(account, now) -> int:
    return selectors.balance_summary(account, now=now, days=0).available


@member_required
def rewards(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    account = _account(request)
    balance = _available(account, now)
    items = selectors.reward_catalogue(request.member, account, now=now, balance=balance)
    context = {
        "available_now": [item for item in items if item.can_redeem],
        "not_yet": [item for item in items if not item.can_redeem],
        "balance": balance,
        "tab": "rewards",
    }
    return render(request, "loyalty/rewards.html", context)


@member_required
def reward_detail(request: HttpRequest, pk: int) -> HttpResponse:
    now = timezone.now()
    account = _account(request)
    balance = _available(account, now)
    item = selectors.reward_item(request.member, account, pk, now=now, balance=balance)
    if item is None:
        raise Http404
    form = RedeemForm(reward=item.reward, initial={"idempotency_key": new_request_key()})
    context = {"item": item, "form": form, "balance": balance, "tab": "rewards"}
    return render(request, "loyalty/reward_detail.html", context)


def _wants_json(request: HttpRequest) -> bool:
    return not request.accepts("text/html") or request.content_type == "application/json"


def _redemption_json(redemption: Redemption, *, replayed: bool, balance: int) -> dict:
    coupon = getattr(redemption, "coupon", None)
    return {
        "redemption": redemption.pk,
        "reward": redemption.reward.name,
        "state": redemption.state,
        "cost": redemption.cost,
        "code": coupon.code if coupon else None,
        "replayed": replayed,
        "balance": balance,
    }


@member_required
@require_POST
def redeem(request: HttpRequest, pk: int) -> HttpResponse:
    """Redeem a reward. ``Idempotency-Key`` (header, or the form's hidden field) makes a retry
    return the first result without charging again."""
    reward = get_object_or_404(Reward, pk=pk)
    as_json = _wants_json(request)
    key = (
        request.headers.get("Idempotency-Key") or request.POST.get("idempotency_key", "")
    ).strip()
    if rate_limited(
        request, "redeem", limit=REDEEM_RATE_LIMIT, window=60, key=str(request.member.pk)
    ):
        message = _("操作太频繁，请稍后再试。")
        if as_json:
            return JsonResponse({"error": "rate_limited", "message": message}, status=429)
        if htmx.is_htmx(request):
            return htmx.refusal(request, message)
        messages.error(request, message)
        return redirect("loyalty:reward", pk=pk)
    shipping = services.Shipping(
        name=request.POST.get("shipping_name", ""),
        phone=request.POST.get("shipping_phone", ""),
        address=request.POST.get("shipping_address", ""),
    )
    try:
        result = services.reward_redeem(
            member=request.member, reward=reward, idempotency_key=key, shipping=shipping
        )
    except DomainError as error:
        if as_json:
            return JsonResponse(
                {"error": error.code, "message": error.message},
                status=ERROR_STATUS.get(error.code, 400),
            )
        if htmx.is_htmx(request):
            return htmx.refusal(request, error.message)
        messages.error(request, error.message)
        return redirect("loyalty:reward", pk=pk)
    redemption = result.redemption
    if as_json:
        balance = selectors.account_of(request.member).balance
        return JsonResponse(
            _redemption_json(redemption, replayed=result.replayed, balance=balance),
            status=200 if result.replayed else 201,
        )
    coupon = getattr(redemption, "coupon", None)
    if coupon:
        messages.success(
            request,
            _("兑换成功！您的券码是 %(code)s。") % {"code": coupon.code},
        )
    else:
        messages.success(request, _("兑换成功，我们会尽快为您安排。"))
    if htmx.is_htmx(request):
        balance = selectors.account_of(request.member).balance
        html = render_to_string(
            "loyalty/_redeemed.html",
            {"reward": reward, "redemption": redemption, "coupon": coupon, "balance": balance},
            request=request,
        )
        return htmx.fragment(request, html)
    return redirect("loyalty:redemptions")


@member_required
def redemptions(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    page = Paginator(selectors.redemption_history(account), REDEMPTIONS_PER_PAGE).get_page(
        request.GET.get("p")
    )
    return render(request, "loyalty/redemptions.html", {"page": page, "tab": "redemptions"})
