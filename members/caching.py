"""What in the members app invalidates cached pages (receivers only bump the generation).

Tiers are named and coloured on every page and their ranks decide access; the admission rule
is explained on public pages; a member's name and state appear on the landing pages of their
shares.
"""

from __future__ import annotations

from django.db.models.signals import post_save

from core import pagecache
from members.models import AdmissionSettings, Member, Tier

# Fields of a member shown to others (share landing pages name the sharer).
PUBLIC_MEMBER_FIELDS = frozenset({"display_name", "state", "weibo_screen_name"})


def _bump_for_member(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is None or PUBLIC_MEMBER_FIELDS & set(update_fields):
        pagecache.bump()


def connect() -> None:
    pagecache.invalidate_on_change(Tier, AdmissionSettings)
    post_save.connect(_bump_for_member, sender=Member, dispatch_uid="pagecache-member")
