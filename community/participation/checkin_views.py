"""The staff check-in scanner (phone layout, outside the admin): staff with the check-in
permission pick one of today's activities and scan members' card QR codes, or type the code
under the QR when the camera cannot read it. Thin: parse, check permission, call one service.

A POST answers JSON to the scanner script (``Accept: application/json``) and redirects with a
message otherwise, so typed entry works without JavaScript too.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from community.models import ActivityPage, Registration
from community.participation import selectors, services
from community.participation.admin_views import PERM_CHECKIN
from core.adminkit import forbidden
from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited

SCANS_PER_MINUTE = 240  # per staff member: a busy door, not a guessing machine


def _staff_with_checkin(view):
    @never_cache
    @login_required(login_url=settings.WAGTAILADMIN_LOGIN_URL)  # the staff login
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(PERM_CHECKIN):
            return forbidden(request)
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _counts(activity: ActivityPage) -> dict[str, int]:
    counts = selectors.registration_counts(activity)
    attended = counts[Registration.State.ATTENDED]
    return {"attended": attended, "seats": counts[Registration.State.REGISTERED] + attended}


@_staff_with_checkin
def checkin_home(request: HttpRequest) -> HttpResponse:
    """Today's activities (and those running now) to scan for."""
    return render(
        request,
        "community/participation/checkin_home.html",
        {"activities": selectors.checkin_activities(timezone.now())},
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@_staff_with_checkin
def checkin_scanner(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(ActivityPage, pk=pk)
    if request.method != "POST":
        return render(
            request,
            "community/participation/checkin_scanner.html",
            {"activity": activity, "counts": _counts(activity)},
        )
    limited = rate_limited(request, "card_checkin", limit=SCANS_PER_MINUTE, window=60,
                           key=str(request.user.pk))  # fmt: skip
    if limited:
        result, message, member = "refused", _("扫码太频繁，请稍后再试。"), None
    else:
        try:
            outcome = services.activity_checkin_by_card(
                activity=activity, code=request.POST.get("code", ""), actor=request.user,
                ip=client_ip(request),
            )  # fmt: skip
        except DomainError as error:
            result, message, member = "refused", error.message, None
        else:
            member = outcome.member
            if outcome.first:
                result, message = "ok", _("签到成功：%(name)s") % {"name": member}
            else:
                result, message = (
                    "already",
                    _("已签到：%(name)s（之前已签到，未重复计分）") % {"name": member},
                )
    if _wants_json(request):
        return JsonResponse({
            "result": result, "message": message, "counts": _counts(activity),
            "member": None if member is None else {
                "name": str(member), "tier": member.tier.name if member.tier else "",
                "number": member.membership_number or "",
            },
        }, status=429 if limited else 200)  # fmt: skip
    {"ok": messages.success, "already": messages.info}.get(result, messages.error)(request, message)
    return redirect("community:checkin_scanner", pk=activity.pk)
