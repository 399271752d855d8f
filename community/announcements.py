"""Telling members of a tier that an item opened for them, through the gate.

An item is announced to a tier when the gate gives that tier full access on the notification
surface: at publication, and again when an early-access window ends and lower tiers gain
access. Lower tiers are never told of an item they cannot open.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from community import gate
from community.models import GatedPage, ItemAnnouncement
from core.models import Notification
from core.notifications import notify_tier
from members.models import Member, Tier
from members.selectors import ViewerStatus


def item_announce(*, page_id: int) -> list[str]:
    """Announce ``page_id`` to every tier newly allowed to read it; returns the tier codes."""
    page = GatedPage.objects.filter(pk=page_id).first()
    if page is None:
        return []
    page = page.specific
    announced = []
    for tier in Tier.objects.order_by("-rank"):
        viewer = ViewerStatus("member", tier=tier)
        if not gate.decide(viewer, page, gate.Surface.NOTIFICATION).full:
            continue
        try:
            with transaction.atomic():
                record = ItemAnnouncement.objects.create(page=page, tier=tier)
                user_ids = Member.objects.filter(state=Member.State.MEMBER, tier=tier).values_list(
                    "user_id", flat=True
                )
                record.recipients = notify_tier(
                    tier_code=tier.code, user_ids=user_ids, kind=Notification.Kind.ITEM_OPENED,
                    title=_("新内容向您开放：%(title)s") % {"title": page.title},
                    body=page.summary, link=page.url or "", dedupe_key=f"item:{page.pk}",
                )  # fmt: skip
                record.save(update_fields=["recipients"])
        except IntegrityError:
            continue  # announced to this tier already (or concurrently)
        announced.append(tier.code)
    return announced


def items_with_open_windows() -> list[int]:
    """Live items whose early-access window has ended: lower tiers may now be due a notice."""
    from django.utils import timezone

    return list(
        GatedPage.objects.live()
        .filter(early_access_until__isnull=False, early_access_until__lte=timezone.now())
        .values_list("pk", flat=True)[:500]
    )
