"""Redemption: every refusal is clear and changes nothing; idempotent retries; coupons; refunds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty import errors, services
from loyalty.models import CouponCode, PointsEntry, PointsLot, Redemption, Reward
from loyalty.selectors import reconcile
from members.models import Member
from tests.factories import MemberFactory, StaffFactory
from tests.loyalty.conftest import account, at, earn, make_reward

pytestmark = pytest.mark.django_db

NOW = at(2026, 5, 1)
SHIP = services.Shipping(name="王先生", phone="13800000000", address="上海市静安区 1 号")


def snapshot(member, reward):
    """Everything a redemption could change."""
    reward.refresh_from_db()
    figures = account(member)
    return (
        figures.balance,
        reward.issued,
        Redemption.objects.count(),
        PointsEntry.objects.count(),
        list(PointsLot.objects.order_by("pk").values_list("remaining", flat=True)),
        CouponCode.objects.filter(redemption__isnull=False).count(),
    )


@pytest.fixture
def rich(member):
    earn(member, 1000, at(2026, 4, 1))
    return member


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"cost": 5000}, errors.InsufficientPoints),
        ({"stock_total": 0}, errors.OutOfStock),
        ({"min_tier": "gold"}, errors.TierTooLow),
        ({"redeemable_from": NOW + timedelta(days=1)}, errors.OutsideWindow),
        ({"redeemable_until": NOW - timedelta(days=1)}, errors.OutsideWindow),
        ({"live": False}, errors.RewardUnavailable),
        ({"visible_until": NOW - timedelta(days=1)}, errors.RewardUnavailable),
        ({"fulfilment": "coupon"}, errors.OutOfStock),  # an empty coupon pool
        ({"fulfilment": "physical"}, errors.ShippingRequired),
    ],
)
def test_refusals_are_clear_and_change_nothing(rich, tiers, change, error):
    fields = {"cost": 100, **change}
    if "min_tier" in fields:
        fields["min_tier"] = tiers[fields["min_tier"]]
    reward = make_reward(**fields)
    before = snapshot(rich, reward)
    with pytest.raises(error) as raised:
        services.reward_redeem(member=rich, reward=reward, now=NOW)
    assert raised.value.message  # a translated sentence for the member
    assert snapshot(rich, reward) == before


def test_limits_per_member_and_per_period(rich):
    reward = make_reward(cost=10, limit_per_member=3, limit_per_period=2, limit_period="week")
    services.reward_redeem(member=rich, reward=reward, now=at(2026, 5, 4))  # a Monday
    services.reward_redeem(member=rich, reward=reward, now=at(2026, 5, 5))
    with pytest.raises(errors.LimitReached):
        services.reward_redeem(member=rich, reward=reward, now=at(2026, 5, 10))  # same week
    services.reward_redeem(member=rich, reward=reward, now=at(2026, 5, 11))  # next week
    with pytest.raises(errors.LimitReached):
        services.reward_redeem(member=rich, reward=reward, now=at(2026, 5, 20))  # 3 in total
    assert account(rich).balance == 970


def test_suspended_and_non_members_cannot_redeem(tiers, policy):
    reward = make_reward(cost=10)
    suspended = MemberFactory(state=Member.State.SUSPENDED)
    with pytest.raises(errors.AccountSuspended):
        services.reward_redeem(member=suspended, reward=reward, now=NOW)
    with pytest.raises(errors.NotAMember):
        services.reward_redeem(member=MemberFactory(state=Member.State.APPLICANT), reward=reward)


def test_a_retried_key_returns_the_first_result_and_charges_once(rich):
    reward = make_reward(cost=100)
    first = services.reward_redeem(member=rich, reward=reward, idempotency_key="abc-1", now=NOW)
    again = services.reward_redeem(member=rich, reward=reward, idempotency_key="abc-1", now=NOW)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.redemption.pk == again.redemption.pk
    assert account(rich).balance == 900
    with pytest.raises(errors.IdempotencyKeyReused):
        services.reward_redeem(member=rich, reward=make_reward(cost=5), idempotency_key="abc-1")
    with pytest.raises(errors.DomainError):
        services.reward_redeem(member=rich, reward=reward, idempotency_key="bad key!")


def test_coupon_rewards_hand_out_each_code_once_and_are_fulfilled_at_once(rich):
    reward = make_reward(cost=100, fulfilment="coupon", stock_total=5)
    services.coupon_codes_add(reward=reward, codes=["A1", "A2", "A1", " "], actor=None)
    one = services.reward_redeem(member=rich, reward=reward, now=NOW).redemption
    two = services.reward_redeem(member=rich, reward=reward, now=NOW).redemption
    assert {one.coupon.code, two.coupon.code} == {"A1", "A2"}
    assert one.state == Redemption.State.FULFILLED
    with pytest.raises(errors.OutOfStock):  # stock says 5, the pool is empty
        services.reward_redeem(member=rich, reward=reward, now=NOW)


def test_physical_rewards_wait_for_staff_and_expire_with_a_refund(rich):
    staff = StaffFactory()
    reward = make_reward(cost=300, fulfilment="physical", stock_total=2, fulfil_within_days=10)
    kept = services.reward_redeem(member=rich, reward=reward, shipping=SHIP, now=NOW).redemption
    late = services.reward_redeem(member=rich, reward=reward, shipping=SHIP, now=NOW).redemption
    assert (kept.state, kept.shipping_address) == (Redemption.State.REQUESTED, SHIP.address)
    services.redemption_fulfil(redemption=kept, actor=staff, note="顺丰 123", now=NOW)
    with pytest.raises(errors.RedemptionNotRequested):
        services.redemption_fulfil(redemption=kept, actor=staff)
    assert account(rich).balance == 400

    assert services.redemptions_expire_due(now=NOW + timedelta(days=9)) == 0
    assert services.redemptions_expire_due(now=NOW + timedelta(days=11)) == 1
    late.refresh_from_db()
    reward.refresh_from_db()
    assert late.state == Redemption.State.EXPIRED
    assert account(rich).balance == 700
    assert reward.issued == 1  # the expired unit is back in stock
    with pytest.raises(errors.RedemptionClosed):
        services.redemption_cancel(redemption=late, actor=staff, reason="x")
    assert reconcile() == []


def test_cancelling_a_coupon_redemption_refunds_but_never_reissues_the_code(rich):
    staff = StaffFactory()
    reward = make_reward(cost=100, fulfilment="coupon", stock_total=1)
    services.coupon_codes_add(reward=reward, codes=["ONLY"], actor=None)
    redemption = services.reward_redeem(member=rich, reward=reward, now=NOW).redemption
    services.redemption_cancel(redemption=redemption, actor=staff, reason="会员误兑")
    assert account(rich).balance == 1000
    assert CouponCode.objects.get().redemption_id == redemption.pk
    with pytest.raises(errors.OutOfStock):
        services.reward_redeem(member=rich, reward=reward, now=NOW)


def test_stock_cannot_be_set_below_what_was_issued(rich):
    from django.core.exceptions import ValidationError

    reward = make_reward(cost=10, stock_total=3)
    services.reward_redeem(member=rich, reward=reward, now=NOW)
    services.reward_redeem(member=rich, reward=reward, now=NOW)
    reward = Reward.objects.get(pk=reward.pk)
    reward.stock_total = 1
    with pytest.raises(ValidationError):
        reward.full_clean()


def test_other_apps_can_spend_and_refund_points(rich):
    entry = services.points_spend(
        member=rich, amount=250, reason="优惠券（积分价）", idempotency_key="offer:1",
        reference=("offer", 1), now=NOW,
    )  # fmt: skip
    again = services.points_spend(member=rich, amount=250, reason="优惠券（积分价）",
                                  idempotency_key="offer:1", now=NOW)  # fmt: skip
    assert entry.pk == again.pk
    assert account(rich).balance == 750
    refund = services.points_refund(entry=entry, reason="领取取消", now=NOW)
    assert services.points_refund(entry=entry, reason="再次", now=NOW).pk == refund.pk
    assert account(rich).balance == 1000
    redeem = services.reward_redeem(member=rich, reward=make_reward(cost=5), now=NOW)
    charge = PointsEntry.objects.get(redemption=redeem.redemption)
    with pytest.raises(errors.NotReversible):  # rewards are refunded by cancelling
        services.points_refund(entry=charge, reason="x")
