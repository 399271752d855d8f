"""Reads about members."""

from __future__ import annotations

from dataclasses import dataclass

from members.models import Member, Tier


@dataclass(frozen=True)
class ViewerStatus:
    """Who is looking at a page, as the site shell and the access gate see it."""

    kind: str  # "outsider" | "applicant" | "member" | "suspended" | "left" | "staff"
    tier: Tier | None = None
    member: Member | None = None

    @property
    def is_member(self) -> bool:
        return self.kind == "member"


def viewer_status(user) -> ViewerStatus:
    if user is None or not user.is_authenticated:
        return ViewerStatus("outsider")
    if user.is_staff:
        return ViewerStatus("staff")
    member = Member.objects.select_related("tier").filter(user=user).first()
    if member is None:
        return ViewerStatus("outsider")
    return ViewerStatus(member.state, tier=member.tier, member=member)
