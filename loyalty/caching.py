"""What in the loyalty programme invalidates kept page data (receivers only bump the page
cache's generation): the settings, the tier ladder and the earning rules pages show."""

from __future__ import annotations

from django.db.models.signals import m2m_changed

from core import pagecache
from loyalty.models import EarningRule, EarningRuleMultiplier, LoyaltySettings, TierRequirement


def connect() -> None:
    pagecache.invalidate_on_change(
        LoyaltySettings, TierRequirement, EarningRule, EarningRuleMultiplier
    )
    m2m_changed.connect(
        pagecache.bump_on_change,
        sender=EarningRule.target_tiers.through,
        dispatch_uid="pagecache-rule-tiers",
    )
