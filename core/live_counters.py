"""Today's numbers for the staff dashboard's live panel.

Each counter is one aggregate query; apps that are not installed count as zero, so the panel
works while the product grows.
"""

from __future__ import annotations

from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

COUNTERS = [
    # (key, label, app label, model, datetime field, extra filter)
    ("joins", _("今日入会"), "members", "AdmissionDecision", "created_at", {"outcome": "admitted"}),
    ("claims", _("今日领取优惠"), "community", "OfferClaim", "created_at", {}),
    ("registrations", _("今日活动报名"), "community", "Registration", "created_at", {}),
    ("redemptions", _("今日积分兑换"), "loyalty", "Redemption", "created_at", {}),
    ("shares", _("今日微博分享"), "share", "Share", "created_at", {}),
]


def _model(app_label: str, name: str):
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def live_counters() -> list[dict]:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for key, label, app_label, name, field, extra in COUNTERS:
        model = _model(app_label, name)
        value = 0
        if model is not None:
            value = model.objects.filter(**{f"{field}__gte": start}, **extra).count()
        rows.append({"key": key, "label": str(label), "value": value})
    comment = _model("community", "Comment")
    held = comment.objects.filter(state="held").count() if comment is not None else 0
    rows.append({"key": "held_comments", "label": str(_("待审核评论")), "value": held})
    return rows
