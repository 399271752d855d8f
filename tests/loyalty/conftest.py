"""Fixtures of the loyalty tests: tiers with thresholds, a validity policy, rules and rewards.

Admin tests act as staff who already passed TOTP (tests/members/test_staff_login.py covers it).
Times are explicit: services take ``now`` so scenarios can walk through months in one test.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission

from loyalty import services
from loyalty.models import EarningRule, LoyaltySettings, PointsAccount, Reward, TierRequirement
from tests.factories import MemberFactory, UserFactory, standard_tiers

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    """An aware local time, for readable scenarios."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture
def tiers(db):
    tiers = standard_tiers()
    for code, threshold in (("regular", 0), ("silver", 1000), ("gold", 5000),
                            ("platinum", 15000)):  # fmt: skip
        TierRequirement.objects.update_or_create(
            tier=tiers[code], defaults={"threshold": threshold, "retain_percent": 90,
                                        "grace_days": 90},
        )  # fmt: skip
    return tiers


@pytest.fixture
def policy(db):
    """Points valid 12 months after earning (same day), reminders 30 days ahead."""
    settings_ = LoyaltySettings.load()
    settings_.expiry_policy = LoyaltySettings.ExpiryPolicy.MONTHS_AFTER
    settings_.expiry_months = 12
    settings_.reminder_days = 30
    settings_.staff_daily_adjust_limit = 5000
    settings_.save()
    return settings_


@pytest.fixture
def member(tiers, policy):
    return MemberFactory(tier=tiers["regular"])


def earn_rule(points: int, **fields) -> EarningRule:
    """A custom-event rule worth ``points`` (one per amount, reused)."""
    rule, _created = EarningRule.objects.get_or_create(
        trigger="custom", event_code=fields.pop("event_code", f"earn-{points}"),
        defaults={"name": f"奖励 {points}", "points": points, **fields},
    )  # fmt: skip
    return rule


def earn(member, points: int, when: datetime, key: str | None = None) -> None:
    """Earn exactly ``points`` through the real rule path (a custom event)."""
    rule = earn_rule(points)
    awards = services.points_award_for_event(
        member=member, trigger="custom", event_code=rule.event_code,
        natural_key=key or f"test:{member.pk}:{points}:{when.isoformat()}", now=when,
    )  # fmt: skip
    assert awards and awards[0].created, awards


def account(member) -> PointsAccount:
    return PointsAccount.objects.get(member=member)


def make_reward(**fields) -> Reward:
    defaults = {"name": "测试礼品", "cost": 100, "fulfilment": Reward.Fulfilment.DONATION}
    defaults.update(fields)
    return Reward.objects.create(**defaults)


def staff_with(*perms: str):
    """A staff user who may enter the admin and holds exactly ``perms`` (``app.codename``)."""
    user = UserFactory(is_staff=True)
    for perm in ("wagtailadmin.access_admin", *perms):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user
