"""The notification centre and the catch-up API the browser script uses after reconnecting."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import htmx, notifications
from core.models import Notification, NotificationPreference


@login_required
def centre(request):
    return render(
        request,
        "core/notifications.html",
        {"page": _page(request, request.GET.get("page")), "kinds": _kinds(request)},
    )


def _page(request, number):
    return Paginator(Notification.objects.filter(user=request.user), 20).get_page(number)


def _kinds(request) -> list[tuple[str, str, bool]]:
    muted = set(
        NotificationPreference.objects.filter(user=request.user).values_list("kind", flat=True)
    )
    return [(value, label, value in muted) for value, label in Notification.Kind.choices]


@login_required
@require_POST
def mark_read(request):
    if request.POST.get("all"):
        notifications.mark_read(user=request.user)
    else:
        ids = [int(i) for i in request.POST.getlist("id") if i.isascii() and i.isdigit()]
        notifications.mark_read(user=request.user, ids=ids)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"unread": notifications.unread_count(request.user)})
    if htmx.is_htmx(request):
        html = render_to_string(
            "core/_notification_list.html",
            {"page": _page(request, request.POST.get("page"))},
            request=request,
        )
        response = htmx.fragment(request, html)
        # The header's badges follow (static/js/actions.js).
        unread = notifications.unread_count(request.user)
        response["HX-Trigger"] = json.dumps({"club:unread": unread})
        return response
    return redirect("notifications:centre")


@login_required
@require_POST
def preferences(request):
    muted = set(request.POST.getlist("muted"))
    for value in Notification.Kind.values:
        notifications.set_muted(user=request.user, kind=value, muted=value in muted)
    messages.success(request, _("通知设置已保存。"))
    if htmx.is_htmx(request):
        html = render_to_string(
            "core/_notification_settings.html", {"kinds": _kinds(request)}, request=request
        )
        return htmx.fragment(request, html)
    return redirect("notifications:centre")


@login_required
def catch_up(request):
    """Unread count and notifications newer than ``after`` (what a closed socket missed)."""
    after = request.GET.get("after", "0")
    after_id = int(after) if after.isascii() and after.isdigit() else 0
    items = Notification.objects.filter(user=request.user, pk__gt=after_id).order_by("-id")[:20]
    return JsonResponse(
        {
            "unread": notifications.unread_count(request.user),
            "items": [item.as_event() for item in reversed(items)],
        },
        json_dumps_params={"ensure_ascii": False},
    )
