"""The demo programme loads, converges when loaded again, and its books balance."""

from __future__ import annotations

import pytest

from loyalty import demo as loyalty_demo
from loyalty.models import PendingAward, PointsEntry, Redemption, Reward
from loyalty.selectors import reconcile
from members import demo as members_demo
from members.models import Member

pytestmark = pytest.mark.django_db


def test_demo_histories_include_expiries_pending_points_and_low_stock():
    members_demo.load()
    lines = loyalty_demo.load()
    assert lines and "/points/" in lines[0]
    tiers_before = dict(Member.objects.values_list("weibo_uid", "tier__code"))
    counts = (PointsEntry.objects.count(), Redemption.objects.count())

    loyalty_demo.load()  # idempotent: nothing is awarded, spent or expired twice
    assert (PointsEntry.objects.count(), Redemption.objects.count()) == counts
    assert dict(Member.objects.values_list("weibo_uid", "tier__code")) == tiers_before

    assert PointsEntry.objects.filter(kind="expire").count() >= 4
    assert PendingAward.objects.filter(state="pending").count() >= 3
    assert Redemption.objects.filter(state="requested").exists()  # the staff queue has work
    low = [r for r in Reward.objects.all() if r.stock_left is not None and r.stock_left <= 2]
    assert len(low) >= 2
    assert reconcile() == []
