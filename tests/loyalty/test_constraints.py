"""Every database invariant of the loyalty tables, hit directly: the database says no.

Each case bypasses the services (raw ``UPDATE`` or a direct ``create``) to prove the constraint
itself holds, not merely the code path in front of it.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from loyalty import services
from loyalty.models import (
    CouponCode,
    EarningRule,
    EarningRuleMultiplier,
    ExpiryReminder,
    LotConsumption,
    LoyaltySettings,
    PendingAward,
    PointsAccount,
    PointsEntry,
    PointsLot,
    QualifyingDay,
    Redemption,
    TierChange,
    TierRequirement,
)
from tests.factories import MemberFactory
from tests.loyalty.conftest import account, at, earn, make_reward

pytestmark = pytest.mark.django_db


def refused(sql: str, params=()) -> None:
    """The statement must fail with an IntegrityError (and roll back only itself)."""
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def ledger(member):
    earn(member, 100, at(2026, 1, 1))
    reward = make_reward(cost=40, stock_total=1, fulfilment="coupon")
    services.coupon_codes_add(reward=reward, codes=["C1"], actor=None)
    redemption = services.reward_redeem(member=member, reward=reward, idempotency_key="k1",
                                        now=at(2026, 1, 2)).redemption  # fmt: skip
    return {
        "account": account(member),
        "entry": PointsEntry.objects.filter(kind="earn").get(),
        "lot": PointsLot.objects.get(),
        "consumption": LotConsumption.objects.get(),
        "reward": reward,
        "redemption": redemption,
    }


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE loyalty_pointsaccount SET balance = -1 WHERE id = %s",  # points_balance_gte_0
        "UPDATE loyalty_pointsaccount SET pending = -1 WHERE id = %s",  # points_pending_gte_0
        "UPDATE loyalty_pointsaccount SET lifetime_earned = -1 WHERE id = %s",
        "UPDATE loyalty_pointsaccount SET manual_tier_id = (SELECT id FROM members_tier LIMIT 1),"
        " manual_tier_until = NULL WHERE id = %s",  # points_manual_tier_has_end
    ],
)
def test_account_constraints(ledger, sql):
    refused(sql, [ledger["account"].pk])


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE loyalty_pointslot SET remaining = -1 WHERE id = %s",  # lot_remaining_gte_0
        "UPDATE loyalty_pointslot SET remaining = amount + 1 WHERE id = %s",  # ..._lte_amount
        "UPDATE loyalty_pointslot SET amount = 0, remaining = 0 WHERE id = %s",  # lot_amount_gt_0
    ],
)
def test_lot_constraints(ledger, sql):
    refused(sql, [ledger["lot"].pk])


def _entry(ledger, **fields) -> PointsEntry:
    values = {
        "account": ledger["account"], "amount": 5, "bucket": "available", "kind": "adjust",
        "reason": "t", "idempotency_key": "new-key", "balance_after": 5,
    }  # fmt: skip
    values.update(fields)
    return PointsEntry(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": 0},  # entry_amount_nonzero
        {"kind": "earn", "amount": -5},  # entry_sign_positive_kinds
        {"kind": "refund", "amount": -5},
        {"kind": "redeem", "amount": 5},  # entry_sign_negative_kinds
        {"kind": "expire", "amount": 5},
        {"kind": "cancel_pending", "amount": 5, "bucket": "pending"},
        {"kind": "redeem", "amount": -5, "bucket": "pending"},  # entry_pending_kinds
        {"balance_after": -1},  # entry_balance_after_gte_0
        {"idempotency_key": "award:dup"},  # unique idempotency key (see below)
    ],
)
def test_entry_constraints(ledger, fields):
    if fields.get("idempotency_key") == "award:dup":
        _entry(ledger, idempotency_key="award:dup").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _entry(ledger, **fields).save()


def test_an_entry_is_compensated_at_most_once(ledger):
    earn_entry = ledger["entry"]
    _entry(ledger, kind="reverse", amount=-5, reverses=earn_entry, idempotency_key="r1").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _entry(ledger, kind="reverse", amount=-5, reverses=earn_entry, idempotency_key="r2").save()


def test_ledger_rows_are_append_only_in_python_and_in_sql(ledger):
    entry, consumption = ledger["entry"], ledger["consumption"]
    entry.reason = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        PointsEntry.objects.filter(pk=entry.pk).update(reason="changed")
    with pytest.raises(PermissionError):
        PointsEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(PermissionError):
        consumption.delete()
    # The database refuses as well (trigger), whatever the client.
    refused("UPDATE loyalty_pointsentry SET amount = 1000 WHERE id = %s", [entry.pk])
    refused("DELETE FROM loyalty_pointsentry WHERE id = %s", [entry.pk])
    refused("UPDATE loyalty_lotconsumption SET amount = 1 WHERE id = %s", [consumption.pk])
    refused("DELETE FROM loyalty_lotconsumption WHERE id = %s", [consumption.pk])
    assert PointsEntry.objects.get(pk=entry.pk).reason != "changed"


def test_qualifying_day_constraints(ledger):
    day = QualifyingDay.objects.get()
    assert day.points == 100
    refused("UPDATE loyalty_qualifyingday SET points = -1 WHERE id = %s", [day.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        QualifyingDay.objects.create(account=ledger["account"], day=day.day, points=1)


def test_tier_changes_are_append_only(member, tiers):
    earn(member, 1200, at(2026, 1, 1))  # silver: one TierChange
    change = TierChange.objects.get()
    with pytest.raises(PermissionError):
        change.save()
    refused("UPDATE loyalty_tierchange SET measured_points = 0 WHERE id = %s", [change.pk])
    refused("DELETE FROM loyalty_tierchange WHERE id = %s", [change.pk])


def test_consumption_constraints(ledger):
    with pytest.raises(IntegrityError), transaction.atomic():
        LotConsumption.objects.create(entry=ledger["entry"], lot=ledger["lot"], amount=0)
    redeem = PointsEntry.objects.get(kind="redeem")
    with pytest.raises(IntegrityError), transaction.atomic():  # consumption_once_per_lot
        LotConsumption.objects.create(entry=redeem, lot=ledger["lot"], amount=1)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE loyalty_reward SET issued = -1 WHERE id = %s",  # reward_issued_gte_0
        "UPDATE loyalty_reward SET issued = stock_total + 1 WHERE id = %s",  # ..._lte_stock
        "UPDATE loyalty_reward SET cost = 0 WHERE id = %s",  # reward_cost_gt_0
    ],
)
def test_reward_constraints(ledger, sql):
    refused(sql, [ledger["reward"].pk])


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE loyalty_redemption SET cost = 0 WHERE id = %s",  # redemption_cost_gt_0
        "UPDATE loyalty_redemption SET fulfilled_at = NULL WHERE id = %s",  # fulfilled_has_time
        "UPDATE loyalty_redemption SET state = 'cancelled' WHERE id = %s",  # closed_has_time
    ],
)
def test_redemption_constraints(ledger, sql):
    refused(sql, [ledger["redemption"].pk])


def test_idempotency_key_is_unique_per_account(ledger):
    first = ledger["redemption"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Redemption.objects.create(account=first.account, reward=first.reward, cost=40,
                                  idempotency_key="k1")  # fmt: skip
    # Without a key there is no uniqueness to keep; another member may reuse the same key.
    other = PointsAccount.objects.create(member=MemberFactory())
    Redemption.objects.create(account=first.account, reward=first.reward, cost=40)
    Redemption.objects.create(account=first.account, reward=first.reward, cost=40)
    Redemption.objects.create(account=other, reward=first.reward, cost=40, idempotency_key="k1")


def test_coupon_constraints(ledger):
    reward, redemption = ledger["reward"], ledger["redemption"]
    with pytest.raises(IntegrityError), transaction.atomic():  # coupon_unique_in_pool
        CouponCode.objects.create(reward=reward, code="C1")
    with pytest.raises(IntegrityError), transaction.atomic():  # one code per redemption
        CouponCode.objects.create(reward=reward, code="C2", redemption=redemption,
                                  assigned_at=redemption.created_at)  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():  # coupon_assigned_has_time
        CouponCode.objects.filter(redemption=redemption).update(assigned_at=None)


def test_pending_award_constraints(member):
    EarningRule.objects.create(name="分享", trigger="share_verified", points=50, pending_days=3)
    services.points_award_for_event(member=member, trigger="share_verified", natural_key="s:1",
                                    now=at(2026, 1, 1))  # fmt: skip
    award = PendingAward.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():  # pending_amount_gt_0
        PendingAward.objects.filter(pk=award.pk).update(amount=0)
    with pytest.raises(IntegrityError), transaction.atomic():  # pending_state_matches_entries
        PendingAward.objects.filter(pk=award.pk).update(state="approved")


def test_rule_and_tier_constraints(tiers):
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningRule.objects.create(name="x", trigger="custom", event_code="", points=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningRule.objects.create(name="x", trigger="joined", points=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningRule.objects.create(
            name="x", trigger="joined", points=5, active_from=at(2026, 2, 1),
            active_until=at(2026, 1, 1),
        )  # fmt: skip
    rule = EarningRule.objects.create(name="x", trigger="joined", points=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningRuleMultiplier.objects.create(rule=rule, tier=tiers["gold"], multiplier=0)
    EarningRuleMultiplier.objects.create(rule=rule, tier=tiers["gold"], multiplier=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningRuleMultiplier.objects.create(rule=rule, tier=tiers["gold"], multiplier=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        TierRequirement.objects.filter(tier=tiers["gold"]).update(retain_percent=101)
    with pytest.raises(IntegrityError), transaction.atomic():
        TierRequirement.objects.filter(tier=tiers["gold"]).update(retain_percent=0)


def test_settings_and_reminder_constraints(ledger):
    with pytest.raises(IntegrityError), transaction.atomic():
        LoyaltySettings.objects.update(expiry_policy="months_after", expiry_months=0)
    ExpiryReminder.objects.create(account=ledger["account"], expires_at=at(2027, 1, 2), points=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExpiryReminder.objects.create(account=ledger["account"], expires_at=at(2027, 1, 2),
                                      points=5)  # fmt: skip


def test_a_staff_edit_of_a_reward_never_writes_the_stock_counter(ledger):
    reward = ledger["reward"]
    stale = type(reward).objects.get(pk=reward.pk)
    stale.issued = 0  # a stale copy, as an admin form would hold it
    stale.name = "新名字"
    stale.save()
    reward.refresh_from_db()
    assert (reward.name, reward.issued) == ("新名字", 1)
