"""Today's activities on the membership card, and the reason to show its check-in QR code.

The card shows the code only while the member holds a seat at an activity of today that they
have not checked in to yet: a code with nothing to check in to would only invite
screenshots. The code itself is the members app's (``members.card``). Titles go through the
gate (listing surface): an activity the member may no longer read is not named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from community import gate
from community.models import Registration
from community.participation import selectors
from members.card import CardSection, register_card_section
from members.models import Member
from members.selectors import ViewerStatus


@dataclass(frozen=True)
class CardActivity:
    title: str  # empty when the gate would not name the activity to this member
    starts_at: datetime | None
    attended: bool


def checkin_section(member: Member, now: datetime) -> CardSection | None:
    registrations = selectors.member_checkins_today(member, now)
    if not registrations:
        return None
    viewer = ViewerStatus(member.state, tier=member.tier, member=member)
    entries = [
        CardActivity(
            title=registration.activity.title
            if gate.decide(viewer, registration.activity, gate.Surface.LISTING, now).visible
            else "",
            starts_at=registration.activity.starts_at,
            attended=registration.state == Registration.State.ATTENDED,
        )
        for registration in registrations
    ]
    return CardSection(
        template="community/participation/_card_checkin.html",
        context={"checkins": entries},
        order=10,
        needs_code=any(not entry.attended for entry in entries),
    )


def register() -> None:
    register_card_section(checkin_section)
