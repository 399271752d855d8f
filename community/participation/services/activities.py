"""Registrations, the waiting list, cancellation and check-in.

Lock order: member row → ``ActivitySeats`` → ``Registration`` rows. The seat row serialises
every change of an activity's registrations, so ``taken`` always equals the number of
registered and attended members, and registration ids are drawn in queue order.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from community.models import ActivityPage, ActivitySeats, Registration
from community.participation.services.access import in_window, lock_member, require_full_access
from community.participation.services.errors import (
    AlreadyRegistered,
    CancellationClosed,
    DrawPending,
    HoldExpired,
    NotCancellable,
    NotRegistered,
    OutsideRegistrationWindow,
    TierTooLow,
)
from community.participation.services.holds import draw_pending, seats_settle
from core.audit import audit_record
from core.errors import PermissionDenied
from core.locking import Lock, lock_rows
from core.notifications import notify_staff
from loyalty.services import points_account_lock
from members.models import Member


def _lock_seats(activity: ActivityPage, now: datetime) -> ActivitySeats:
    """Create the activity's seat row if missing, lock it, follow the page's capacity (never
    below the seats already taken), pass on overdue holds and offer any free seat to the
    waiting list as a hold (``holds.seats_settle``)."""
    ActivitySeats.objects.bulk_create(
        [ActivitySeats(activity=activity, capacity=activity.capacity, taken=0)],
        ignore_conflicts=True,
    )
    (seats,) = lock_rows((Lock.STOCK, ActivitySeats.objects.filter(activity=activity)))[0]
    capacity = max(activity.capacity, seats.taken)
    if capacity != seats.capacity:
        seats.capacity = capacity
        seats.save(update_fields=["capacity"])
    seats.settled = seats_settle(seats, activity, now)
    return seats


def activity_holds_settle(*, activity: ActivityPage) -> int:
    """Pass on the activity's overdue holds in a transaction of their own (see
    ``offers.offer_holds_settle``); how many ended."""
    if not Registration.objects.filter(
        activity=activity, state=Registration.State.HELD, hold_until__lte=timezone.now()
    ).exists():
        return 0
    with transaction.atomic():
        return _lock_seats(activity, timezone.now()).settled[0]


def activity_seats_sync(*, activity: ActivityPage) -> ActivitySeats:
    """Follow a changed capacity (called when staff publish the activity)."""
    with transaction.atomic():
        return _lock_seats(activity, timezone.now())


def registration_closes(activity: ActivityPage) -> datetime | None:
    return activity.registration_closes_at or activity.starts_at


def activity_register(*, activity: ActivityPage, member: Member) -> Registration:
    """Hold a seat for ``member`` or, when all are taken, put them on the waiting list."""
    activity_holds_settle(activity=activity)
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        require_full_access(member, activity, TierTooLow(_("等级不够，无法报名这个活动。")))
        if not in_window(now, activity.registration_opens_at, registration_closes(activity)):
            raise OutsideRegistrationWindow
        seats = _lock_seats(activity, now)
        if draw_pending(activity):
            raise DrawPending
        open_states = (Registration.State.REGISTERED, Registration.State.HELD,
                       Registration.State.WAITLISTED, Registration.State.ATTENDED)  # fmt: skip
        if Registration.objects.filter(
            activity=activity, member=member, state__in=open_states
        ).exists():
            raise AlreadyRegistered
        if seats.taken < seats.capacity:
            state = Registration.State.REGISTERED
            ActivitySeats.objects.filter(pk=seats.pk).update(taken=F("taken") + 1)
        else:
            state = Registration.State.WAITLISTED
        notify_staff(counter="registrations")
        return Registration.objects.create(
            activity=activity, member=member, state=state, created_at=now
        )


def cancellation_deadline(activity: ActivityPage) -> datetime | None:
    """Seats may be given back until this moment: the page's deadline, else the start."""
    return activity.cancellation_deadline or activity.starts_at


def registration_cancel(*, registration: Registration, member: Member) -> Registration:
    """Cancel the member's own registration; a freed seat is held for the first waiting
    member.

    Leaving the waiting list or declining a held seat is always possible; giving back a seat
    only before the cancellation deadline.
    """
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        if registration.member_id != member.pk:
            raise PermissionDenied
        activity = ActivityPage.objects.get(pk=registration.activity_id)
        seats = _lock_seats(activity, now)
        (registration,) = lock_rows((Lock.CODES, Registration.objects.filter(pk=registration.pk)))[
            0
        ]
        if registration.state == Registration.State.CANCELLED:
            return registration
        if registration.state == Registration.State.ATTENDED:
            raise NotCancellable
        held_seat = registration.state in (Registration.State.REGISTERED,
                                           Registration.State.HELD)  # fmt: skip
        deadline = cancellation_deadline(activity)
        if (registration.state == Registration.State.REGISTERED and deadline is not None
                and now >= deadline):  # fmt: skip
            raise CancellationClosed
        registration.state = Registration.State.CANCELLED
        registration.cancelled_at = now
        registration.save(update_fields=["state", "cancelled_at"])
        if held_seat:
            ActivitySeats.objects.filter(pk=seats.pk).update(taken=F("taken") - 1)
            seats.taken -= 1
            seats_settle(seats, activity, now)
    return registration


def registration_confirm(*, registration: Registration, member: Member) -> Registration:
    """Take the seat held for ``member`` (from the waiting list or a draw) before its hold
    ends; confirming twice is the same as once.

    Lock order as ``registration_cancel``: member → ``ActivitySeats`` → the registration. The
    seat lock first passes on overdue holds, so a hold that ended a moment ago is refused even
    if the beat task has not run yet.
    """
    activity = ActivityPage.objects.get(pk=registration.activity_id)
    activity_holds_settle(activity=activity)
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        if registration.member_id != member.pk:
            raise PermissionDenied
        require_full_access(member, activity, TierTooLow(_("等级不够，无法报名这个活动。")))
        _lock_seats(activity, now)
        (registration,) = lock_rows((Lock.CODES, Registration.objects.filter(pk=registration.pk)))[
            0
        ]
        if registration.state in (Registration.State.REGISTERED, Registration.State.ATTENDED):
            return registration
        if registration.state != Registration.State.HELD:
            raise HoldExpired
        registration.state, registration.promoted_at = Registration.State.REGISTERED, now
        registration.save(update_fields=["state", "promoted_at"])
        notify_staff(counter="registrations")
    return registration


def attendance_recorded(registration: Registration) -> None:
    """Hook point: a member attended an activity (called once per registration, in the
    check-in transaction): the loyalty rules for attending award their points, once."""
    from loyalty.services import points_award_for_event

    points_award_for_event(
        member=registration.member, trigger="activity_attended",
        natural_key=f"attended:{registration.pk}", reference=registration,
    )  # fmt: skip


def registration_checkin(
    *, registration: Registration, method: str, actor=None, ip: str | None = None
) -> tuple[Registration, bool]:
    """Record attendance once: (registration, True) the first time, (registration, False) for
    a repeat, which writes nothing. Only a registration holding a seat can be checked in.

    Attendance earns points inside this transaction, so the check-in inherits loyalty's order:
    it locks the member and the points account before the registration (a seat, like a code,
    comes last), as a cancellation locks the member before the seats and the registration.
    """
    now = timezone.now()
    member_id = Registration.objects.values_list("member_id", flat=True).get(pk=registration.pk)
    with transaction.atomic():
        points_account_lock(member=Member(pk=member_id))
        (registration,) = lock_rows(
            (Lock.CODES, Registration.objects.select_related("member").filter(pk=registration.pk))
        )[0]
        if registration.state == Registration.State.ATTENDED:
            return registration, False
        if registration.state != Registration.State.REGISTERED:
            raise NotRegistered
        registration.state = Registration.State.ATTENDED
        registration.attended_at = now
        registration.checkin_method = method
        registration.checked_in_by = actor if getattr(actor, "pk", None) else None
        registration.save(update_fields=["state", "attended_at", "checkin_method",
                                         "checked_in_by"])  # fmt: skip
        audit_record(
            action="activity.attended", actor=actor, target=registration, ip=ip,
            before={"state": Registration.State.REGISTERED},
            after={"state": Registration.State.ATTENDED, "method": method,
                   "member": registration.member_id, "activity": registration.activity_id},
        )  # fmt: skip
        attendance_recorded(registration)
    return registration, True
