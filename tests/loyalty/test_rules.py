"""Earning rules: natural-key idempotency, caps, multipliers, target tiers, windows, check-in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty import errors, services
from loyalty.models import EarningRule, EarningRuleMultiplier, PointsEntry
from loyalty.selectors import reconcile
from members.models import Member
from tests.factories import MemberFactory
from tests.loyalty.conftest import account, at

pytestmark = pytest.mark.django_db


def award(member, trigger="comment_approved", key="comment:1", when=None, **kwargs):
    return services.points_award_for_event(
        member=member, trigger=trigger, natural_key=key, now=when or at(2026, 3, 2), **kwargs
    )


def test_an_event_delivered_twice_awards_once(member):
    EarningRule.objects.create(name="评论", trigger="comment_approved", points=20)
    first = award(member)
    again = award(member)
    assert [a.created for a in first] == [True]
    assert [(a.created, a.points) for a in again] == [(False, 20)]
    assert account(member).balance == 20
    assert PointsEntry.objects.count() == 1


def test_every_matching_rule_awards_and_multipliers_follow_the_tier(member, tiers):
    base = EarningRule.objects.create(name="评论", trigger="comment_approved", points=20)
    EarningRuleMultiplier.objects.create(rule=base, tier=tiers["gold"], multiplier=Decimal("1.25"))
    gold_only = EarningRule.objects.create(name="金卡评论加赠", trigger="comment_approved",
                                           points=7)  # fmt: skip
    gold_only.target_tiers.set([tiers["gold"]])
    gold_only.save()  # a ParentalManyToManyField is written on save, as the admin form does
    assert sum(a.points for a in award(member, key="c:1")) == 20  # regular: base rule only

    Member.objects.filter(pk=member.pk).update(tier=tiers["gold"])
    member.refresh_from_db()
    results = award(member, key="c:2")
    assert sorted(a.points for a in results) == [7, 25]  # 20 × 1.25 = 25, plus the gold rule
    assert account(member).balance == 20 + 32


def test_caps_count_awards_per_day_week_month_and_lifetime(member):
    EarningRule.objects.create(name="评论", trigger="comment_approved", points=10, cap_per_day=2,
                               cap_per_month=3, cap_lifetime=4)  # fmt: skip
    day1 = [award(member, key=f"c:{n}", when=at(2026, 3, 2)) for n in range(3)]
    assert [r[0].skipped for r in day1] == ["", "", "capped"]
    assert award(member, key="c:9", when=at(2026, 3, 3))[0].created  # month cap now reached
    assert award(member, key="c:10", when=at(2026, 3, 4))[0].skipped == "capped"
    assert award(member, key="c:11", when=at(2026, 4, 1))[0].created  # new month, lifetime 4
    assert award(member, key="c:12", when=at(2026, 5, 1))[0].skipped == "capped"
    assert account(member).balance == 40


def test_week_cap(member):
    EarningRule.objects.create(name="分享", trigger="offer_claimed", points=5, cap_per_week=1)
    assert award(member, "offer_claimed", "o:1", at(2026, 3, 2))[0].created  # Monday
    assert award(member, "offer_claimed", "o:2", at(2026, 3, 8))[0].skipped == "capped"  # Sunday
    assert award(member, "offer_claimed", "o:3", at(2026, 3, 9))[0].created  # next Monday


def test_inactive_disabled_and_out_of_window_rules_award_nothing(member):
    EarningRule.objects.create(name="停用", trigger="activity_attended", points=5, enabled=False)
    EarningRule.objects.create(name="未开始", trigger="activity_attended", points=6,
                               active_from=at(2026, 4, 1))  # fmt: skip
    EarningRule.objects.create(name="已结束", trigger="activity_attended", points=7,
                               active_until=at(2026, 3, 1))  # fmt: skip
    assert award(member, "activity_attended", "a:1") == []
    assert not PointsEntry.objects.exists()


def test_only_admitted_members_earn(tiers, policy):
    EarningRule.objects.create(name="评论", trigger="comment_approved", points=20)
    for state in (Member.State.APPLICANT, Member.State.SUSPENDED, Member.State.LEFT):
        assert award(MemberFactory(state=state)) == []
    assert not PointsEntry.objects.exists()
    with pytest.raises(ValueError):
        award(MemberFactory(), trigger="no_such_trigger")


def test_custom_events_match_their_code(member):
    EarningRule.objects.create(name="门店消费", trigger="custom", event_code="store", points=100)
    assert award(member, "custom", "s:1", event_code="other") == []
    assert award(member, "custom", "s:1", event_code="store")[0].points == 100


def test_daily_checkin_once_per_local_day(member, tiers):
    rule = EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    EarningRuleMultiplier.objects.create(
        rule=rule, tier=tiers["regular"], multiplier=Decimal("1.5")
    )
    assert services.points_checkin(member=member, now=at(2026, 3, 2, 8))[0].points == 15
    with pytest.raises(errors.AlreadyCheckedIn):
        services.points_checkin(member=member, now=at(2026, 3, 2, 23))
    services.points_checkin(member=member, now=at(2026, 3, 3, 0))  # a new day in Shanghai
    assert account(member).balance == 30


def test_checkin_without_a_rule_or_for_non_members_is_refused(member, tiers):
    with pytest.raises(errors.CheckinUnavailable):
        services.points_checkin(member=member)
    EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    with pytest.raises(errors.AccountSuspended):
        services.points_checkin(member=MemberFactory(state=Member.State.SUSPENDED))
    with pytest.raises(errors.NotAMember):
        services.points_checkin(member=MemberFactory(state=Member.State.APPLICANT))


def test_tier_reached_awards_once_per_tier(member, tiers):
    bonus = EarningRule.objects.create(name="升级礼", trigger="tier_reached", points=100)
    bonus.target_tiers.set([tiers["silver"]])
    bonus.save()
    EarningRule.objects.create(name="消费", trigger="custom", event_code="buy", points=1000)
    award(member, "custom", "b:1", event_code="buy")
    member.refresh_from_db()
    assert member.tier == tiers["silver"]
    assert account(member).balance == 1100  # 1000 + the silver bonus
    assert reconcile() == []


def test_join_and_referral_bonuses_are_swept_once(tiers, policy):
    EarningRule.objects.create(name="入会礼", trigger="joined", points=200)
    EarningRule.objects.create(name="邀请", trigger="referral_joined", points=500)
    inviter = MemberFactory(tier=tiers["regular"])
    invitee = MemberFactory(tier=tiers["regular"], invited_by=inviter)
    now = invitee.joined_at
    assert services.member_events_sweep(now=now) == 3  # two join bonuses and one referral
    assert services.member_events_sweep(now=now) == 0
    assert account(inviter).balance == 700
    assert account(invitee).balance == 200
