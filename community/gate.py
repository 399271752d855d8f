"""The one access gate: what a viewer may see of an item, on a given surface.

Every surface (page serving, feed and listings, search, sitemap, RSS, images and documents,
previews, the JSON API, share cards, notifications) asks ``decide``. The answer is one of:

- ``FULL``: the whole item;
- ``TEASER``: only the public teaser (title, summary, cover) and the body before the paywall
  cut, with a call to action naming the tier needed;
- ``HIDDEN``: nothing at all, not even that the item exists.

Missing data denies: a tier rule without a tier, an early-access window without a tier, a
member without a tier asking for a tier-limited item.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from members.models import Tier
from members.selectors import ViewerStatus


class Access(enum.IntEnum):
    HIDDEN = 0
    TEASER = 1
    FULL = 2


class Surface(enum.StrEnum):
    PAGE = "page"
    LISTING = "listing"
    SEARCH = "search"
    SITEMAP = "sitemap"
    FEED = "feed"
    IMAGE = "image"
    DOCUMENT = "document"
    API = "api"
    SHARE_CARD = "share_card"
    NOTIFICATION = "notification"


# Surfaces where a teaser must not appear at all: search snippets and notifications could
# reveal that gated text matched, or announce an item to someone who cannot open it.
FULL_ONLY_SURFACES = {Surface.SEARCH, Surface.NOTIFICATION}
# Surfaces an anonymous robot sees: only what an outsider may see.
OUTSIDER_SURFACES = {Surface.SITEMAP, Surface.SHARE_CARD}


@dataclass(frozen=True)
class Decision:
    access: Access
    required_tier: Tier | None = None  # what the viewer would need, for the call to action
    opens_at: datetime | None = None  # when early access ends for the viewer's tier

    @property
    def full(self) -> bool:
        return self.access == Access.FULL

    @property
    def visible(self) -> bool:
        return self.access != Access.HIDDEN


def _is_live(item, now: datetime) -> bool:
    if not getattr(item, "live", False):
        return False
    if getattr(item, "expired", False):
        return False
    expire_at = getattr(item, "expire_at", None)
    if expire_at and expire_at <= now:
        return False
    go_live_at = getattr(item, "go_live_at", None)
    return not (go_live_at and go_live_at > now)


def _tier_ids(item) -> set[int]:
    # Uses a prefetch when the selector did one; otherwise one query.
    return {tier.pk for tier in item.tiers.all()}


def _base_rule(item, tier: Tier | None) -> tuple[bool, Tier | None]:
    """(allowed, tier that would be needed) for an admitted member of ``tier``."""
    access = item.access
    if access == item.Access.MEMBERS:
        return True, None
    if access == item.Access.MIN_TIER:
        needed = item.min_tier
        if needed is None:
            return False, None
        return (tier is not None and tier.rank >= needed.rank), needed
    if access == item.Access.TIERS:
        allowed = _tier_ids(item)
        if not allowed:
            return False, None
        if tier is not None and tier.pk in allowed:
            return True, None
        needed = min((t for t in item.tiers.all()), key=lambda t: t.rank, default=None)
        return False, needed
    return False, None


def decide(
    viewer: ViewerStatus,
    item,
    surface: Surface = Surface.PAGE,
    now: datetime | None = None,
    *,
    preview: bool = False,
) -> Decision:
    """``preview`` (staff previewing as someone else) skips the publishing schedule only."""
    now = now or timezone.now()
    if surface in OUTSIDER_SURFACES:
        viewer = ViewerStatus("outsider")
    if viewer.kind == "staff":
        return Decision(Access.FULL)
    if not preview and not _is_live(item, now):
        return Decision(Access.HIDDEN)
    access = getattr(item, "access", None)
    if access == item.Access.PUBLIC:
        return Decision(Access.FULL)
    if access not in {item.Access.MEMBERS, item.Access.MIN_TIER, item.Access.TIERS}:
        return Decision(Access.HIDDEN)

    locked = Access.HIDDEN if item.hide_when_locked else Access.TEASER
    if surface in FULL_ONLY_SURFACES:
        locked = Access.HIDDEN

    if not viewer.is_member:
        needed = item.min_tier if access == item.Access.MIN_TIER else None
        return Decision(locked, required_tier=needed)

    allowed, needed = _base_rule(item, viewer.tier)
    if not allowed:
        return Decision(locked, required_tier=needed)

    if item.early_access_until and item.early_access_until > now:
        early = item.early_access_tier
        if early is None:
            return Decision(locked)
        if viewer.tier is None or viewer.tier.rank < early.rank:
            return Decision(locked, required_tier=early, opens_at=item.early_access_until)
    return Decision(Access.FULL)


def split_body(body) -> tuple[list, bool]:
    """Blocks before the first paywall cut, and whether a cut exists."""
    before = []
    for block in body:
        if block.block_type == "paywall":
            return before, True
        before.append(block)
    return before, False


def visible_blocks(item, decision: Decision) -> list:
    """The body blocks this decision allows, cut on the server; paywall markers dropped."""
    if decision.full:
        return [block for block in item.body if block.block_type != "paywall"]
    if decision.access == Access.TEASER:
        # No cut means no free part: a forgotten cut must not publish the whole body.
        before, has_cut = split_body(item.body)
        return before if has_cut else []
    return []
