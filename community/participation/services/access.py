"""Checks every way of taking part shares: the member row lock, account state and the gate."""

from __future__ import annotations

from datetime import datetime

from community import gate
from community.participation.services.errors import AccountStateNotAllowed
from core.errors import DomainError, NotFound
from core.locking import Lock, lock_rows
from members.models import Member
from members.selectors import ViewerStatus


def lock_member(member: Member) -> Member:
    """The member row, locked (``FOR NO KEY UPDATE``) so that per-member rules hold; first in
    the order of ``core.locking``."""
    (member,) = lock_rows(
        (Lock.MEMBER, Member.objects.select_related("tier").filter(pk=member.pk))
    )[0]
    return member


def require_full_access(member: Member, item, error: DomainError) -> None:
    """Only an admitted member for whom the gate says FULL may take part."""
    if member.state != Member.State.MEMBER:
        raise AccountStateNotAllowed
    if not item.live or item.expired:
        raise NotFound
    viewer = ViewerStatus("member", tier=member.tier, member=member)
    if not gate.decide(viewer, item, gate.Surface.PAGE).full:
        raise error


def in_window(now: datetime, opens: datetime | None, closes: datetime | None) -> bool:
    return (opens is None or opens <= now) and (closes is None or now < closes)
