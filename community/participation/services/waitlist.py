"""The waiting list of sold-out offers, and the sweep that passes on holds that ran out.

An activity's waiting list is its waitlisted registrations (``activity_register`` puts a member
there when every seat is taken or held, ``registration_cancel`` takes them off, and
``registration_confirm`` takes a held seat); an offer's is ``OfferWaitlistEntry``, written here.
Either way a unit that comes free is held for the first member in line (``holds``), and the
member claims or confirms it before the hold ends.

Lock order: member → ``OfferInventory`` (stock) → waiting-list rows (codes), as a claim.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from community.models import (
    ActivityPage,
    OfferClaim,
    OfferInventory,
    OfferPage,
    OfferWaitlistEntry,
    Registration,
)
from community.participation.services.access import in_window, lock_member, require_full_access
from community.participation.services.activities import _lock_seats
from community.participation.services.errors import (
    AlreadyWaiting,
    ClaimLimitReached,
    DrawPending,
    OutsideClaimWindow,
    StillAvailable,
    TierTooLow,
)
from community.participation.services.holds import draw_pending, offer_settle
from community.participation.services.offers import _lock_inventory, offer_holds_settle
from core.locking import Lock, lock_one
from core.notifications import notify_staff
from members.models import Member

OPEN_STATES = (OfferWaitlistEntry.State.WAITING, OfferWaitlistEntry.State.HELD)


def offer_waitlist_join(*, offer: OfferPage, member: Member) -> OfferWaitlistEntry:
    """Put ``member`` at the end of a sold-out offer's waiting list.

    Refused while a unit is free (the member should claim it), while a draw is pending, outside
    the claim window and for a member at their claim limit. The entry's id is drawn under the
    inventory lock, so id order is the order members joined.
    """
    offer_holds_settle(offer=offer)
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        require_full_access(member, offer, TierTooLow(_("等级不够，无法领取这个优惠。")))
        if not in_window(now, offer.valid_from, offer.valid_until):
            raise OutsideClaimWindow
        inventory = _lock_inventory(offer, now)
        if draw_pending(offer):
            raise DrawPending
        existing = OfferWaitlistEntry.objects.filter(
            offer=offer, member=member, state__in=OPEN_STATES
        ).first()
        if existing is not None:
            raise AlreadyWaiting
        if offer.per_member_limit:
            mine = OfferClaim.objects.live().filter(offer=offer, member=member).count()
            if mine >= offer.per_member_limit:
                raise ClaimLimitReached
        if inventory.claimed + inventory.held < inventory.total:
            raise StillAvailable
        entry = OfferWaitlistEntry.objects.create(
            offer=offer, member=member, state=OfferWaitlistEntry.State.WAITING, created_at=now
        )
        notify_staff(counter="claims")
    return entry


def offer_waitlist_leave(*, offer: OfferPage, member: Member) -> OfferWaitlistEntry | None:
    """Take ``member`` off the offer's waiting list; a unit held for them goes to the next in
    line at once. Leaving twice is the same as once (None: nothing to leave)."""
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        inventory = _lock_inventory(offer, now)
        entry = lock_one(
            Lock.CODES,
            OfferWaitlistEntry.objects.filter(offer=offer, member=member, state__in=OPEN_STATES),
        )
        if entry is None:
            return None
        was_held = entry.state == OfferWaitlistEntry.State.HELD
        entry.state, entry.closed_at = OfferWaitlistEntry.State.LEFT, now
        entry.save(update_fields=["state", "closed_at"])
        if was_held:
            OfferInventory.objects.filter(pk=inventory.pk).update(held=F("held") - 1)
            inventory.held -= 1
            offer_settle(inventory, offer, now)
        notify_staff(counter="claims")
    return entry


def holds_expire() -> int:
    """Pass on every hold that ran out, item by item (one transaction each); how many ended.

    Run by beat every minute, and safe to run twice or alongside member actions: each item is
    settled under its stock lock, where an ended hold is found only once.
    """
    now = timezone.now()
    offer_ids = set(
        OfferWaitlistEntry.objects.filter(
            state=OfferWaitlistEntry.State.HELD, hold_until__lte=now
        ).values_list("offer_id", flat=True)
    )
    activity_ids = set(
        Registration.objects.filter(state=Registration.State.HELD, hold_until__lte=now).values_list(
            "activity_id", flat=True
        )
    )
    ended = 0
    for offer in OfferPage.objects.filter(pk__in=offer_ids).order_by("pk"):
        with transaction.atomic():
            ended += _lock_inventory(offer, timezone.now()).settled[0]
    for activity in ActivityPage.objects.filter(pk__in=activity_ids).order_by("pk"):
        with transaction.atomic():
            ended += _lock_seats(activity, timezone.now()).settled[0]
    return ended
