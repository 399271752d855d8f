"""Property: random sequences of earn / spend / expire / refund keep the books exact.

A plain-Python model of lots (spend earliest expiry first, expire what is due, refund into the
original lots and re-expire what is past its date) runs beside the real services. After every
step: the balance equals the model's, equals Σ entries and Σ lots, is never negative, and no lot
is over-consumed. One fresh member per example; time only moves forward.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty import errors, policy, services
from loyalty.models import LotConsumption, PointsEntry, PointsLot
from loyalty.selectors import reconcile
from tests.factories import MemberFactory
from tests.loyalty.conftest import account, at, earn

pytestmark = pytest.mark.django_db

earn_op = st.tuples(st.just("earn"), st.integers(1, 200))
spend_op = st.tuples(st.just("spend"), st.integers(1, 300))
wait_op = st.tuples(st.just("wait"), st.integers(1, 40))
refund_op = st.tuples(st.just("refund"), st.integers(0, 9))
expire_op = st.tuples(st.just("expire"), st.just(0))
# Weighted by repetition: histories that earn, spend, wait past expiry dates and refund.
operations = st.lists(
    st.one_of(earn_op, earn_op, spend_op, spend_op, wait_op, wait_op, refund_op, expire_op),
    min_size=3,
    max_size=20,
)


class Model:
    def __init__(self) -> None:
        self.lots: list[list] = []  # [expires_at, remaining], in creation (= id) order
        self.spends: list[dict] = []  # {"entry": PointsEntry, "taken": {lot index: n}}

    @property
    def balance(self) -> int:
        return sum(lot[1] for lot in self.lots)

    def expire(self, now) -> None:
        for lot in self.lots:
            if lot[0] <= now:
                lot[1] = 0

    def spend(self, amount: int, now) -> dict[int, int] | None:
        due = [lot[1] if lot[0] <= now else 0 for lot in self.lots]
        if self.balance - sum(due) < amount:
            return None  # refused: nothing changes, not even the expiry
        self.expire(now)
        taken: dict[int, int] = {}
        order = sorted(range(len(self.lots)), key=lambda i: (self.lots[i][0], i))
        for index in order:
            portion = min(self.lots[index][1], amount)
            if portion:
                self.lots[index][1] -= portion
                taken[index] = portion
                amount -= portion
        return taken

    def refund(self, taken: dict[int, int], now) -> None:
        for index, portion in taken.items():
            self.lots[index][1] += portion
        for index in taken:
            if self.lots[index][0] <= now:
                self.lots[index][1] = 0


def check_books(member, model: Model) -> None:
    figures = account(member)
    entries = PointsEntry.objects.filter(account=figures, bucket="available")
    assert figures.balance == model.balance
    assert figures.balance >= 0
    assert figures.balance == (entries.aggregate(s=Sum("amount"))["s"] or 0)
    lots = list(PointsLot.objects.filter(account=figures).order_by("pk"))
    assert [lot.remaining for lot in lots] == [lot[1] for lot in model.lots]
    for lot in lots:
        assert 0 <= lot.remaining <= lot.amount
        consumed = LotConsumption.objects.filter(lot=lot).aggregate(s=Sum("amount"))["s"] or 0
        assert lot.remaining == lot.amount - consumed


@settings(
    max_examples=40,
    deadline=None,
    database=None,  # nothing written into the working tree; the explicit examples pin regressions
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
@example(ops=[("earn", 100), ("wait", 3), ("earn", 50), ("spend", 120), ("expire", 0)])
@example(ops=[("earn", 100), ("earn", 30), ("spend", 110), ("wait", 40), ("refund", 0)])
def test_random_histories_keep_the_books_exact(tiers, policy, ops):
    policy.expiry_months = 1  # short validity, so expiry happens within a history
    policy.save()
    member = MemberFactory(tier=tiers["regular"])
    model = Model()
    now = at(2026, 1, 1)
    for step, (action, value) in enumerate(ops):
        now += timedelta(days=1)  # lots of different days expire on different dates
        if action == "earn":
            earn(member, value, now, key=f"p:{uuid.uuid4().hex}")
            model.lots.append([policy_expiry(now), value])
        elif action == "spend":
            taken = model.spend(value, now)
            if taken is None:
                with pytest.raises(errors.InsufficientPoints):
                    services.points_spend(member=member, amount=value, reason="t",
                                          idempotency_key=f"s{step}", now=now)  # fmt: skip
            else:
                entry = services.points_spend(member=member, amount=value, reason="t",
                                              idempotency_key=f"s{step}", now=now)  # fmt: skip
                model.spends.append({"entry": entry, "taken": taken})
        elif action == "wait":
            now += timedelta(days=value)
        elif action == "expire":
            services.points_expire_account(member=member, now=now)
            model.expire(now)
        elif action == "refund" and model.spends:
            spend = model.spends.pop(value % len(model.spends))
            services.points_refund(entry=spend["entry"], reason="退还", now=now)
            model.refund(spend["taken"], now)
        if account_exists(member):
            check_books(member, model)
    assert not [d for d in reconcile() if d.member_id == member.pk]


def policy_expiry(now):
    return policy.lot_expiry(earned_at=now, policy="months_after", months=1)


def account_exists(member) -> bool:
    return PointsEntry.objects.filter(account__member=member).exists()
