"""Telling members of a tier that an item opened for them, through the gate.

An item is announced to a tier when the gate gives that tier full access on the notification
surface: at publication, and again when an early-access window ends and lower tiers gain
access. Lower tiers are never told of an item they cannot open.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from community import gate
from community.models import AnnouncementCursor, GatedPage, ItemAnnouncement
from core.locking import Lock, lock_key
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
                user_ids = _member_user_ids(tier)
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


def _member_user_ids(tier: Tier) -> Iterator[int]:
    """The tier's admitted members' user ids, in id order, ``TIER_NOTIFY_BATCH`` per query
    (keyset), so a tier of any size is read in bounded steps."""
    last = 0
    while True:
        batch = list(
            Member.objects.filter(state=Member.State.MEMBER, tier=tier, user_id__gt=last)
            .order_by("user_id")
            .values_list("user_id", flat=True)[: settings.TIER_NOTIFY_BATCH]
        )
        yield from batch
        if len(batch) < settings.TIER_NOTIFY_BATCH:
            return
        last = batch[-1]


CURSOR_NAME = "early_access_ended"
#: A constant of this module for the advisory lock that lets one sweep step run at a time.
SWEEP_LOCK_SPACE = 4101


def early_access_sweep(*, batch_size: int | None = None) -> int:
    """Announce items whose early-access window has ended, oldest window first; returns how
    many tier announcements were made.

    Items are read in ``(early_access_until, id)`` order after the cursor, ``batch_size`` at a
    time (``ANNOUNCE_BATCH_SIZE``), so a run always moves past what earlier runs finished,
    however many items with ended windows the club holds (an unordered first 500 could be the
    same finished items every minute, and the rest never told). Each item is one transaction
    that announces it and moves the cursor past it: a run that crashes leaves the item to the
    next run, and a repeated or concurrent run finds it done (the cursor, under an advisory
    lock, and the once-per-tier constraint), so nobody is told twice and nobody is skipped.
    """
    now = timezone.now()  # the gate reads the clock too: an ended window is ended for both
    batch_size = batch_size or settings.ANNOUNCE_BATCH_SIZE
    cursor = AnnouncementCursor.objects.get_or_create(name=CURSOR_NAME)[0]
    due = _ended_windows(now, after=(cursor.last_until, cursor.last_page_id))[:batch_size]
    announced = 0
    for page_id, until in list(due):
        with transaction.atomic():
            lock_key(Lock.STOCK, SWEEP_LOCK_SPACE, 0)
            cursor = AnnouncementCursor.objects.get(name=CURSOR_NAME)
            if cursor.last_until is not None and (until, page_id) <= (
                cursor.last_until,
                cursor.last_page_id,
            ):
                continue  # a concurrent run finished it
            announced += len(item_announce(page_id=page_id))
            AnnouncementCursor.objects.filter(pk=cursor.pk).update(
                last_until=until, last_page_id=page_id
            )
    return announced


def _ended_windows(now: datetime, *, after: tuple[datetime | None, int]):
    """(id, early_access_until) of live items whose window ended, in cursor order after
    ``after``."""
    items = GatedPage.objects.live().filter(
        early_access_until__isnull=False, early_access_until__lte=now
    )
    until, page_id = after
    if until is not None:
        items = items.filter(
            Q(early_access_until__gt=until) | Q(early_access_until=until, pk__gt=page_id)
        )
    return items.order_by("early_access_until", "pk").values_list("pk", "early_access_until")
