"""The points part of the membership card: balance and tier progress, read through the same
selectors as the points page (``loyalty.selectors``)."""

from __future__ import annotations

from datetime import datetime

from loyalty import selectors
from members.card import CardSection, register_card_section
from members.models import Member


def points_section(member: Member, now: datetime) -> CardSection:
    account = selectors.account_of(member)
    days = selectors.loyalty_settings().reminder_days
    return CardSection(
        template="loyalty/_card_points.html",
        context={
            "summary": selectors.balance_summary(account, now=now, days=days),
            "tier": selectors.tier_progress(account, now=now),
        },
        order=20,
    )


def register() -> None:
    register_card_section(points_section)
