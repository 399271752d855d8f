"""Holds: a unit of stock kept for the next member in line until a deadline.

A unit that comes free (a cancelled registration, a hold declined or run out, stock staff
added) goes to the first eligible member of the waiting list as a hold, never straight to
whoever claims next. The two ``*_settle`` functions do that for one item; every service that
locks an item's stock row calls them right after the lock, so an overdue hold is passed on by
the first request that touches the item (on demand), and the beat task
``community.expire_holds`` passes on the holds of items nobody touches.

Precondition of both: the caller holds the item's stock row lock (``OfferInventory`` or
``ActivitySeats``, level STOCK of ``core.locking``); they lock the waiting rows at level CODES.
Everything they decide happens under that one lock, so a unit is never given twice nor lost,
and running them twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from community import gate
from community.models import (
    ActivityPage,
    ActivitySeats,
    Draw,
    ItemAllocation,
    OfferInventory,
    OfferPage,
    OfferWaitlistEntry,
    Registration,
)
from core.audit import audit_record
from core.locking import Lock, lock_rows
from core.models import Notification
from core.notifications import notify, notify_staff, written_for
from members.models import Member
from members.selectors import ViewerStatus

HOLD_EXPIRED_RULE = "hold_expired"


def allocation_of(item) -> ItemAllocation | None:
    return ItemAllocation.objects.filter(item_id=item.pk).first()


def draw_pending(item) -> bool:
    """Whether the item's units wait for a draw that has not run: until then nobody claims or
    registers first come, and nobody joins a waiting list."""
    allocation = allocation_of(item)
    if allocation is None or allocation.mode != ItemAllocation.Mode.DRAW:
        return False
    return not Draw.objects.filter(item_id=item.pk, state=Draw.State.DRAWN).exists()


def hold_deadline(item, now: datetime, allocation: ItemAllocation | None = None) -> datetime:
    """When a hold given now ends: the item's hold duration, cut to the end of its window (a
    hold never outlives the claim window or the start of the activity)."""
    allocation = allocation if allocation is not None else allocation_of(item)
    hours = allocation.hold_hours if allocation is not None else ItemAllocation().hold_hours
    deadline = now + timedelta(hours=hours)
    end = item.valid_until if isinstance(item, OfferPage) else item.starts_at
    if end is not None and end > now:
        deadline = min(deadline, end)
    return deadline


def notify_hold(*, member: Member, item, hold_until: datetime, key: str, won: bool) -> None:
    """Tell a member a unit is kept for them (live, after commit). Never names an item the
    member may no longer read."""
    viewer = ViewerStatus(member.state, tier=member.tier, member=member)
    with written_for(member.language):
        deadline = timezone.localtime(hold_until).strftime("%Y-%m-%d %H:%M")
        if gate.decide(viewer, item, gate.Surface.NOTIFICATION).full:
            if won:
                title = _("中签：%(title)s") % {"title": item.title}
            else:
                title = _("候补到您了：%(title)s") % {"title": item.title}
            link = item.url or ""
        else:
            title, link = _("有一个名额为您保留"), ""
        body = _("名额为您保留到 %(deadline)s，请在此之前确认，逾期将顺延给下一位。") % {
            "deadline": deadline
        }
    notify(
        user_id=member.user_id,
        kind=Notification.Kind.DRAW_RESULT if won else Notification.Kind.WAITLIST_PROMOTED,
        title=title,
        body=body, link=link, dedupe_key=key,
    )  # fmt: skip


def offer_settle(inventory: OfferInventory, offer: OfferPage, now: datetime) -> tuple[int, int]:
    """End the offer's overdue holds, then give every free unit to the next waiting members;
    (expired, given). ``inventory`` is locked and its ``held`` is kept current."""
    (overdue,) = lock_rows(
        (Lock.CODES, OfferWaitlistEntry.objects.filter(
            offer=offer, state=OfferWaitlistEntry.State.HELD, hold_until__lte=now))
    )  # fmt: skip
    for entry in overdue:
        entry.state, entry.closed_at = OfferWaitlistEntry.State.EXPIRED, now
        entry.save(update_fields=["state", "closed_at"])
        audit_record(
            action="offer.hold_expired", target=offer, rule=HOLD_EXPIRED_RULE,
            after={"member": entry.member_id, "hold_until": entry.hold_until.isoformat()},
        )  # fmt: skip
    if overdue:
        OfferInventory.objects.filter(pk=inventory.pk).update(held=F("held") - len(overdue))
        inventory.held -= len(overdue)
    free = inventory.total - inventory.claimed - inventory.held
    given = 0
    if free > 0:
        (waiting,) = lock_rows(
            (Lock.CODES, OfferWaitlistEntry.objects.select_related("member", "member__tier")
             .filter(offer=offer, state=OfferWaitlistEntry.State.WAITING,
                     member__state=Member.State.MEMBER)
             .order_by("id")[:free])
        )  # fmt: skip
        allocation = allocation_of(offer)
        for entry in waiting:
            entry.state = OfferWaitlistEntry.State.HELD
            entry.held_at, entry.hold_until = now, hold_deadline(offer, now, allocation)
            entry.save(update_fields=["state", "held_at", "hold_until"])
            audit_record(
                action="offer.hold_given", target=offer, rule="waitlist",
                after={"member": entry.member_id, "hold_until": entry.hold_until.isoformat()},
            )  # fmt: skip
            notify_hold(member=entry.member, item=offer, hold_until=entry.hold_until,
                        key=f"offer-hold:{entry.pk}", won=False)  # fmt: skip
        given = len(waiting)
        if given:
            OfferInventory.objects.filter(pk=inventory.pk).update(held=F("held") + given)
            inventory.held += given
    if overdue or given:
        notify_staff(counter="claims")
    return len(overdue), given


def seats_settle(seats: ActivitySeats, activity: ActivityPage, now: datetime) -> tuple[int, int]:
    """End the activity's overdue holds (the registration is cancelled), then offer every free
    seat to the next waiting members as a hold; (expired, given). ``seats`` is locked and its
    ``taken`` (which counts holds) is kept current."""
    (overdue,) = lock_rows(
        (Lock.CODES, Registration.objects.filter(
            activity=activity, state=Registration.State.HELD, hold_until__lte=now))
    )  # fmt: skip
    for registration in overdue:
        registration.state, registration.cancelled_at = Registration.State.CANCELLED, now
        registration.save(update_fields=["state", "cancelled_at"])
        audit_record(
            action="activity.hold_expired", target=activity, rule=HOLD_EXPIRED_RULE,
            after={"member": registration.member_id,
                   "hold_until": registration.hold_until.isoformat()},
        )  # fmt: skip
    if overdue:
        ActivitySeats.objects.filter(pk=seats.pk).update(taken=F("taken") - len(overdue))
        seats.taken -= len(overdue)
    free = seats.capacity - seats.taken
    given = 0
    if free > 0:
        (waiting,) = lock_rows(
            (Lock.CODES, Registration.objects.select_related("member", "member__tier")
             .filter(activity=activity, state=Registration.State.WAITLISTED,
                     member__state=Member.State.MEMBER)
             .order_by("id")[:free])
        )  # fmt: skip
        allocation = allocation_of(activity)
        for registration in waiting:
            registration.state = Registration.State.HELD
            registration.hold_until = hold_deadline(activity, now, allocation)
            registration.save(update_fields=["state", "hold_until"])
            audit_record(
                action="activity.hold_given", target=activity, rule="waitlist",
                after={"member": registration.member_id,
                       "hold_until": registration.hold_until.isoformat()},
            )  # fmt: skip
            notify_hold(member=registration.member, item=activity,
                        hold_until=registration.hold_until,
                        key=f"activity-hold:{registration.pk}:{registration.hold_until:%s}",
                        won=False)  # fmt: skip
        given = len(waiting)
        if given:
            ActivitySeats.objects.filter(pk=seats.pk).update(taken=F("taken") + given)
            seats.taken += given
    if overdue or given:
        notify_staff(counter="registrations")
    return len(overdue), given
