"""Check-in at the door by the membership card's rotating QR code (staff scan it).

A card code names one member and is valid for about a minute (``members.card``): it cannot be
forwarded to a registrant who is not there, as a code shared by the whole event could. The
scan is staff's action: it is audited with the staff member as actor (by
``registration_checkin``), and a repeat scan writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from community.models import ActivityPage, Registration
from community.participation.services.activities import registration_checkin
from community.participation.services.errors import CardHolderNotAdmitted, CardHolderNotRegistered
from members.card import card_code_member_id
from members.errors import CardCodeInvalid
from members.models import Member


@dataclass(frozen=True)
class CardCheckin:
    registration: Registration
    member: Member
    first: bool  # False: the member had already checked in; nothing was written


def activity_checkin_by_card(
    *, activity: ActivityPage, code: str, actor, ip: str | None = None,
    now: datetime | None = None,
) -> CardCheckin:  # fmt: skip
    """Check the card's holder in to ``activity``, once.

    Refuses, writing nothing: a code that is not genuine (``CardCodeInvalid``) or too old
    (``CardCodeExpired``), a holder who is not an admitted member, and a holder without a seat
    at this activity (not registered, on the waiting list, a seat held for them but not taken,
    cancelled). Attendance then earns the
    loyalty rule's points in ``registration_checkin``'s transaction, whose lock order
    (member → points account → registration) this inherits; it takes no lock itself.
    """
    now = now or timezone.now()
    member_id = card_code_member_id(code, now=now)
    member = Member.objects.select_related("tier", "user").filter(pk=member_id).first()
    if member is None:
        raise CardCodeInvalid
    if member.state != Member.State.MEMBER:
        raise CardHolderNotAdmitted
    registration = (
        Registration.objects.filter(activity=activity, member=member)
        .exclude(state=Registration.State.CANCELLED)
        .first()
    )
    seat_states = (Registration.State.REGISTERED, Registration.State.ATTENDED)
    if registration is None or registration.state not in seat_states:  # waiting, held, …
        raise CardHolderNotRegistered
    registration, first = registration_checkin(
        registration=registration, method=Registration.CheckinMethod.CARD, actor=actor, ip=ip
    )
    return CardCheckin(registration=registration, member=member, first=first)
