"""Scenarios worked by hand: every expected balance below was computed on paper first.

Validity policy in these tests: points are valid 12 months after the day they were earned
(``months_after``, N = 12): earned 2026-01-10 → last valid day 2027-01-10 → expire at
2027-01-11 00:00 Asia/Shanghai.
"""

from __future__ import annotations

import pytest

from loyalty import errors, services
from loyalty.models import (
    EntryKind,
    LoyaltySettings,
    PendingAward,
    PointsEntry,
    PointsLot,
    Redemption,
    TierChange,
    TierRequirement,
)
from loyalty.selectors import reconcile
from tests.factories import StaffFactory
from tests.loyalty.conftest import account, at, earn, make_reward

pytestmark = pytest.mark.django_db


def lots_of(member) -> list[tuple[int, int]]:
    """(amount, remaining) of each lot, oldest first."""
    return list(
        PointsLot.objects.filter(account__member=member)
        .order_by("pk")
        .values_list("amount", "remaining")
    )


def kinds_of(member) -> list[tuple[str, int]]:
    return list(
        PointsEntry.objects.filter(account__member=member)
        .order_by("created_at", "pk")
        .values_list("kind", "amount")
    )


def test_earn_then_spend_across_lots_earliest_expiry_first(member):
    earn(member, 100, at(2026, 1, 10))  # lot A, expires 2027-01-11
    earn(member, 80, at(2026, 6, 1))  # lot B, expires 2027-06-02
    assert account(member).balance == 180

    services.points_spend(member=member, amount=60, reason="t", idempotency_key="s1",
                          now=at(2026, 7, 1))  # fmt: skip
    # 60 from A (earliest expiry): A 100→40, B untouched.
    assert lots_of(member) == [(100, 40), (80, 80)]
    assert account(member).balance == 120

    services.points_spend(member=member, amount=70, reason="t", idempotency_key="s2",
                          now=at(2026, 12, 1))  # fmt: skip
    # 40 from A (now empty), 30 from B: A 0, B 50.
    assert lots_of(member) == [(100, 0), (80, 50)]
    assert account(member).balance == 50
    assert reconcile() == []


def test_spending_takes_never_expiring_lots_last(member, policy):
    policy.expiry_policy = LoyaltySettings.ExpiryPolicy.NEVER
    policy.save()
    earn(member, 100, at(2026, 1, 1))  # lot A: never expires
    policy.expiry_policy = LoyaltySettings.ExpiryPolicy.MONTHS_AFTER
    policy.save()
    earn(member, 50, at(2026, 2, 1))  # lot B: expires 2027-02-02, so it is spent first

    services.points_spend(member=member, amount=70, reason="t", idempotency_key="s",
                          now=at(2026, 3, 1))  # fmt: skip
    assert lots_of(member) == [(100, 80), (50, 0)]
    assert account(member).balance == 80


def test_expiry_of_a_partly_spent_lot(member):
    earn(member, 100, at(2026, 1, 10))  # A expires 2027-01-11 00:00
    earn(member, 80, at(2026, 6, 1))  # B expires 2027-06-02 00:00
    services.points_spend(member=member, amount=60, reason="t", idempotency_key="s",
                          now=at(2026, 7, 1))  # fmt: skip
    assert lots_of(member) == [(100, 40), (80, 80)]

    # The night before A's expiry nothing happens; the night after, A's remaining 40 expire.
    assert services.points_expire_due(now=at(2027, 1, 10, 23)) == 0
    assert services.points_expire_due(now=at(2027, 1, 11, 0)) == 40
    assert services.points_expire_due(now=at(2027, 1, 11, 1)) == 0  # running twice is harmless
    assert lots_of(member) == [(100, 0), (80, 80)]
    assert account(member).balance == 80  # 180 − 60 spent − 40 expired
    assert kinds_of(member)[-1] == (EntryKind.EXPIRE, -40)

    services.points_spend(member=member, amount=30, reason="t", idempotency_key="s2",
                          now=at(2027, 2, 1))  # fmt: skip
    assert account(member).balance == 50
    assert reconcile() == []


def test_a_spend_after_an_expiry_date_expires_the_lot_first(member):
    """The nightly job has not run yet: the spend must not use points that already expired."""
    earn(member, 100, at(2026, 1, 10))
    earn(member, 30, at(2026, 6, 1))
    with pytest.raises(errors.InsufficientPoints):
        services.points_spend(member=member, amount=50, reason="t", idempotency_key="s",
                              now=at(2027, 1, 11, 0))  # fmt: skip
    assert account(member).balance == 130  # the refusal rolled the lazy expiry back too
    services.points_spend(member=member, amount=20, reason="t", idempotency_key="s3",
                          now=at(2027, 1, 11, 9))  # fmt: skip
    assert account(member).balance == 10  # 130 − 100 expired − 20 spent
    assert lots_of(member) == [(100, 0), (30, 10)]


def test_refund_after_expiry_does_not_resurrect_expired_points(member):
    staff = StaffFactory()
    earn(member, 100, at(2026, 1, 10))  # A: expires 2027-01-11
    earn(member, 50, at(2026, 6, 1))  # B: expires 2027-06-02
    reward = make_reward(cost=120)
    redemption = services.reward_redeem(
        member=member, reward=reward, now=at(2026, 12, 20)
    ).redemption
    # 120 = 100 from A + 20 from B.
    assert lots_of(member) == [(100, 0), (50, 30)]
    assert account(member).balance == 30

    assert services.points_expire_due(now=at(2027, 1, 11, 1)) == 0  # A is empty: nothing to do

    services.redemption_cancel(redemption=redemption, actor=staff, reason="缺货",
                               now=at(2027, 2, 1))  # fmt: skip
    # The refund puts 100 back into A and 20 into B; A's expiry has passed, so its 100 expire
    # at once. Net: 30 + 120 − 100 = 50.
    assert account(member).balance == 50
    assert lots_of(member) == [(100, 0), (50, 50)]
    assert kinds_of(member)[-2:] == [(EntryKind.REFUND, 120), (EntryKind.EXPIRE, -100)]
    redemption.refresh_from_db()
    assert redemption.state == Redemption.State.CANCELLED
    reward.refresh_from_db()
    assert reward.issued == 0
    assert reconcile() == []


def test_refund_before_expiry_restores_the_original_lots_and_their_dates(member):
    staff = StaffFactory()
    earn(member, 100, at(2026, 1, 10))
    redemption = services.reward_redeem(member=member, reward=make_reward(cost=70),
                                        now=at(2026, 2, 1)).redemption  # fmt: skip
    services.redemption_cancel(redemption=redemption, actor=staff, reason="会员取消",
                               now=at(2026, 2, 2))  # fmt: skip
    assert account(member).balance == 100
    assert lots_of(member) == [(100, 100)]
    # The restored points keep their original expiry: they still expire on 2027-01-11.
    assert services.points_expire_due(now=at(2027, 1, 11, 1)) == 100
    assert account(member).balance == 0


def test_pending_points_are_visible_not_spendable_then_cancelled(member):
    rule = earn_share_rule()
    services.points_award_for_event(member=member, trigger="share_verified",
                                    natural_key="share:1", now=at(2026, 3, 1))  # fmt: skip
    figures = account(member)
    assert (figures.balance, figures.pending) == (0, 50)
    with pytest.raises(errors.InsufficientPoints):
        services.points_spend(member=member, amount=10, reason="t", idempotency_key="x",
                              now=at(2026, 3, 1, 13))  # fmt: skip

    assert services.points_pending_cancel(member=member, natural_key="share:1",
                                          reason="微博已删除", now=at(2026, 3, 2)) == 1  # fmt: skip
    figures = account(member)
    assert (figures.balance, figures.pending, figures.lifetime_earned) == (0, 0, 0)
    assert kinds_of(member) == [(EntryKind.EARN, 50), (EntryKind.CANCEL_PENDING, -50)]
    assert PendingAward.objects.get().state == PendingAward.State.CANCELLED
    # The job later finds nothing to release; a second cancel does nothing.
    assert services.points_release_due(now=at(2026, 3, 10)) == 0
    assert services.points_pending_cancel(member=member, natural_key="share:1", reason="x") == 0
    assert rule.pk and reconcile() == []


def test_pending_points_are_approved_by_the_job_after_the_pending_period(member):
    earn_share_rule()
    services.points_award_for_event(member=member, trigger="share_verified",
                                    natural_key="share:2", now=at(2026, 3, 5))  # fmt: skip
    assert services.points_release_due(now=at(2026, 3, 8, 11)) == 0  # 3 days not yet over
    assert services.points_release_due(now=at(2026, 3, 8, 13)) == 1
    figures = account(member)
    assert (figures.balance, figures.pending, figures.lifetime_earned) == (50, 0, 50)
    lot = PointsLot.objects.get(account__member=member)
    assert lot.last_valid_day.isoformat() == "2027-03-08"  # the lot starts at approval
    assert reconcile() == []


def earn_share_rule():
    from loyalty.models import EarningRule

    return EarningRule.objects.create(name="分享", trigger="share_verified", points=50,
                                      pending_days=3)  # fmt: skip


def test_tier_is_earned_points_not_balance_and_upgrade_is_immediate(member, tiers):
    earn(member, 600, at(2026, 1, 1))
    services.points_spend(member=member, amount=500, reason="t", idempotency_key="s",
                          now=at(2026, 1, 2))  # fmt: skip
    member.refresh_from_db()
    assert member.tier == tiers["regular"]
    earn(member, 500, at(2026, 2, 1))
    member.refresh_from_db()
    # Balance is 600 (< 1000) but 1100 were earned: silver, at once.
    assert account(member).balance == 600
    assert member.tier == tiers["silver"]
    change = TierChange.objects.get()
    assert (change.kind, change.measured_points) == (TierChange.Kind.UPGRADE, 1100)


def test_downgrade_only_at_evaluation_and_with_the_low_water_margin(member, tiers):
    earn(member, 400, at(2026, 1, 1, 12))  # the account opens: evaluation on 2027-01-01
    earn(member, 4600, at(2026, 1, 2))  # 5000 earned: gold at once
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    assert account(member).tier_evaluation_on.isoformat() == "2027-01-01"

    # Before the evaluation date nothing moves, whatever the measure.
    assert services.tiers_evaluate_due(now=at(2026, 12, 31, 13)) == {}
    # At the evaluation (13:00, 2027-01-01) the 400 of 2026-01-01 12:00 fell out of the
    # 12 months: 4600 < 5000, but ≥ 4500 (90 %): gold is kept.
    assert services.tiers_evaluate_due(now=at(2027, 1, 1, 13)) == {"kept": 1}
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    assert account(member).tier_evaluation_on.isoformat() == "2028-01-01"

    earn(member, 950, at(2027, 6, 1))
    # 2028-01-01: only the 950 count; gold's margin (4500) fails, silver's (900) holds.
    assert services.tiers_evaluate_due(now=at(2028, 1, 1, 13)) == {"downgraded": 1}
    member.refresh_from_db()
    assert member.tier == tiers["silver"]
    change = TierChange.objects.filter(kind=TierChange.Kind.DOWNGRADE).get()
    assert (change.from_tier, change.to_tier, change.measured_points) == (
        tiers["gold"], tiers["silver"], 950,
    )  # fmt: skip


def test_no_downgrade_within_the_grace_period_after_a_promotion(member, tiers):
    earn(member, 100, at(2026, 1, 1))  # evaluation on 2027-01-01
    earn(member, 4900, at(2026, 12, 1))  # 5000: gold since 2026-12-01, grace until 2027-03-01
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    # Staff raise the gold threshold: 8000, kept at 90 % = 7200.
    TierRequirement.objects.filter(tier=tiers["gold"]).update(threshold=8000)

    # The evaluation falls inside the grace period: gold stays, evaluation moves to its end.
    assert services.tiers_evaluate_due(now=at(2027, 1, 1, 13)) == {"grace": 1}
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    assert account(member).tier_evaluation_on.isoformat() == "2027-03-01"

    # After the grace period: 4900 < 7200 → silver (4900 ≥ 900).
    assert services.tiers_evaluate_due(now=at(2027, 3, 1, 13)) == {"downgraded": 1}
    member.refresh_from_db()
    assert member.tier == tiers["silver"]


def test_staff_manual_tier_holds_until_its_end_then_the_member_is_evaluated(member, tiers):
    staff = StaffFactory()
    earn(member, 100, at(2026, 1, 1))
    from datetime import date

    services.tier_set_manual(member=member, tier=tiers["platinum"], until=date(2026, 6, 30),
                             reason="品牌大使", actor=staff, now=at(2026, 2, 1))  # fmt: skip
    member.refresh_from_db()
    assert member.tier == tiers["platinum"]
    assert services.tiers_evaluate_due(now=at(2026, 6, 30, 13)) == {}
    assert services.tiers_evaluate_due(now=at(2026, 7, 1, 13)) == {"downgraded": 1}
    member.refresh_from_db()
    assert member.tier == tiers["regular"]
    kinds = list(TierChange.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [TierChange.Kind.MANUAL, TierChange.Kind.MANUAL_END]
    with pytest.raises(errors.ReasonRequired):
        services.tier_set_manual(member=member, tier=tiers["gold"], until=date(2026, 12, 1),
                                 reason=" ", actor=staff, now=at(2026, 7, 2))  # fmt: skip
