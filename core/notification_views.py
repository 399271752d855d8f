"""The notification centre and the catch-up API the browser script uses after reconnecting."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core import notifications
from core.models import Notification, NotificationPreference


@login_required
def centre(request):
    page = Paginator(Notification.objects.filter(user=request.user), 20).get_page(
        request.GET.get("page")
    )
    muted = set(
        NotificationPreference.objects.filter(user=request.user).values_list("kind", flat=True)
    )
    kinds = [(value, label, value in muted) for value, label in Notification.Kind.choices]
    return render(request, "core/notifications.html", {"page": page, "kinds": kinds})


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
    return redirect("notifications:centre")


@login_required
@require_POST
def preferences(request):
    muted = set(request.POST.getlist("muted"))
    for value in Notification.Kind.values:
        notifications.set_muted(user=request.user, kind=value, muted=value in muted)
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
