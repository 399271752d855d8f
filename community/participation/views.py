"""Member actions on offers and activities, and the member's own lists. Thin by design.

Every action finds the item among live pages and asks the gate first: an item the viewer may
not see answers 404, exactly as its page would. Domain errors become a message on the item
page; nothing was changed when one is shown.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from wagtail.models import Page

from community import gate
from community.models import ActivityPage, OfferPage, Registration
from community.participation import selectors, services
from community.serving import item_part
from core import htmx
from core.errors import DomainError
from core.ratelimit import rate_limited
from members.selectors import ViewerStatus, viewer_for_request

ACTIONS_PER_MINUTE = 20


def _visible_item(request: HttpRequest, model, pk: int):
    item = get_object_or_404(model.objects.live(), pk=pk)
    viewer = viewer_for_request(request)
    if not gate.decide(viewer, item, gate.Surface.PAGE).visible:
        raise Http404
    return item, viewer


def _member_or_message(request: HttpRequest, viewer: ViewerStatus):
    if viewer.member is None:
        messages.error(request, str(services.AccountStateNotAllowed.default_message))
    return viewer.member


PARTS = {"claim": "community/_claim.html", "registration": "community/_registration.html"}


def _back(request: HttpRequest, item, anchor: str) -> HttpResponse:
    """Back to the item's box: the page (a plain POST) or the box itself (htmx)."""
    if htmx.is_htmx(request):
        # A draw box sits inside the offer's claim box or the activity's registration box.
        part = PARTS.get(anchor) or PARTS[_anchor(item)]
        return htmx.fragment(request, item_part(request, item, part))
    return redirect(f"{item.get_url(request)}#{anchor}")


def _too_many(request: HttpRequest, scope: str, member, limit: int, window: int) -> bool:
    if rate_limited(request, scope, limit=limit, window=window, key=str(member.pk)):
        messages.error(request, _("操作太频繁，请稍后再试。"))
        return True
    return False


def _act(request: HttpRequest, item, viewer: ViewerStatus, *, scope: str, anchor: str,
         action, success) -> HttpResponse:  # fmt: skip
    """What every member action on an item shares: a member (else a message), the rate
    limit, the service (``action(member)``), its refusal or ``success`` (a message, or a
    function of the service's result giving one) as a message, and back to the item's box."""
    member = _member_or_message(request, viewer)
    if member is not None and not _too_many(request, scope, member, ACTIONS_PER_MINUTE, 60):
        try:
            result = action(member)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, success(result) if callable(success) else success)
    return _back(request, item, anchor)


@login_required
@require_POST
def offer_claim(request: HttpRequest, pk: int) -> HttpResponse:
    offer, viewer = _visible_item(request, OfferPage, pk)
    key = request.POST.get("key", "")
    return _act(
        request, offer, viewer, scope="offer_claim", anchor="claim",
        action=lambda member: services.offer_claim(offer=offer, member=member,
                                                   idempotency_key=key),
        success=_("领取成功，券码已显示在下方和“我的优惠”中。"),
    )  # fmt: skip


@login_required
@require_POST
def activity_register(request: HttpRequest, pk: int) -> HttpResponse:
    activity, viewer = _visible_item(request, ActivityPage, pk)

    def outcome(registration: Registration) -> str:
        if registration.state == Registration.State.REGISTERED:
            return _("报名成功，已为您保留名额。")
        return _("名额已满，您已进入候补名单，有人取消时按顺序递补。")

    return _act(
        request, activity, viewer, scope="activity", anchor="registration",
        action=lambda member: services.activity_register(activity=activity, member=member),
        success=outcome,
    )  # fmt: skip


@login_required
@require_POST
def registration_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    viewer = viewer_for_request(request)
    if viewer.member is None:
        raise Http404
    registration = get_object_or_404(Registration, pk=pk, member=viewer.member)
    if _too_many(request, "activity", viewer.member, ACTIONS_PER_MINUTE, 60):
        return redirect("community:my_activities")
    try:
        services.registration_cancel(registration=registration, member=viewer.member)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已取消报名。"))
    next_url = request.POST.get("next")
    if next_url == "item":
        activity = ActivityPage.objects.live().filter(pk=registration.activity_id).first()
        if activity is not None:
            return _back(request, activity, "registration")
    return redirect("community:my_activities")


@login_required
@require_POST
def offer_waitlist_join(request: HttpRequest, pk: int) -> HttpResponse:
    offer, viewer = _visible_item(request, OfferPage, pk)
    return _act(
        request, offer, viewer, scope="offer_claim", anchor="claim",
        action=lambda member: services.offer_waitlist_join(offer=offer, member=member),
        success=_("已加入候补名单，有名额空出时按顺序为您保留并通知您。"),
    )  # fmt: skip


@login_required
@require_POST
def offer_waitlist_leave(request: HttpRequest, pk: int) -> HttpResponse:
    offer, viewer = _visible_item(request, OfferPage, pk)
    return _act(
        request, offer, viewer, scope="offer_claim", anchor="claim",
        action=lambda member: services.offer_waitlist_leave(offer=offer, member=member),
        success=_("已退出候补名单。"),
    )  # fmt: skip


@login_required
@require_POST
def registration_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    viewer = viewer_for_request(request)
    if viewer.member is None:
        raise Http404
    registration = get_object_or_404(Registration, pk=pk, member=viewer.member)
    activity, _viewer = _visible_item(request, ActivityPage, registration.activity_id)
    return _act(
        request, activity, viewer, scope="activity", anchor="registration",
        action=lambda member: services.registration_confirm(registration=registration,
                                                            member=member),
        success=_("报名成功，名额已为您确认。"),
    )  # fmt: skip


def _visible_draw_item(request: HttpRequest, pk: int):
    """A live offer or activity the viewer may see (its teaser is enough), else 404."""
    page = get_object_or_404(Page.objects.live(), pk=pk).specific
    if not isinstance(page, OfferPage | ActivityPage):
        raise Http404
    viewer = viewer_for_request(request)
    if not gate.decide(viewer, page, gate.Surface.PAGE).visible:
        raise Http404
    return page, viewer


def _anchor(item) -> str:
    return "claim" if isinstance(item, OfferPage) else "registration"


@login_required
@require_POST
def draw_enter(request: HttpRequest, pk: int) -> HttpResponse:
    item, viewer = _visible_draw_item(request, pk)
    return _act(
        request, item, viewer, scope="draw", anchor="draw",
        action=lambda member: services.draw_enter(item=item, member=member),
        success=lambda entry: _("已参加抽签，您的报名编号是 %(id)s。") % {"id": entry.public_id},
    )  # fmt: skip


@login_required
@require_POST
def draw_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    item, viewer = _visible_draw_item(request, pk)
    return _act(
        request, item, viewer, scope="draw", anchor="draw",
        action=lambda member: services.draw_withdraw(item=item, member=member),
        success=_("已退出抽签。"),
    )  # fmt: skip


@never_cache
def draw_record(request: HttpRequest, pk: int) -> HttpResponse:
    """The public record of a draw, for anyone who may see the item (its teaser is enough)."""
    item, _viewer = _visible_draw_item(request, pk)
    record = selectors.draw_record(item)
    if record is None:
        raise Http404
    return render(
        request, "community/participation/draw_record.html",
        {"item": item, "record": record,
         "record_json": json.dumps(record, ensure_ascii=False, indent=1)},
    )  # fmt: skip


@never_cache
def draw_record_json(request: HttpRequest, pk: int) -> HttpResponse:
    item, _viewer = _visible_draw_item(request, pk)
    record = selectors.draw_record(item)
    if record is None:
        raise Http404
    return JsonResponse(record, json_dumps_params={"ensure_ascii": False})


def _member_page(request: HttpRequest, template: str, build) -> HttpResponse:
    viewer = viewer_for_request(request)
    if not viewer.is_member or viewer.member is None:
        return render(request, "community/participation/not_member.html", status=403)
    return render(request, template, build(viewer.member))


@never_cache
@login_required
def my_offers(request: HttpRequest) -> HttpResponse:
    return _member_page(
        request, "community/participation/my_offers.html",
        lambda member: {"claims": selectors.member_claims(member)},
    )  # fmt: skip


@never_cache
@login_required
def my_activities(request: HttpRequest) -> HttpResponse:
    return _member_page(
        request, "community/participation/my_activities.html",
        lambda member: {"registrations": selectors.member_registrations(member)},
    )  # fmt: skip
