"""Real concurrency on PostgreSQL: threads, each with its own database connection, released
together by a barrier. Exactly the allowed number of redemptions succeed; nothing is charged
twice; the books balance afterwards.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction
from django.test import Client

from loyalty import errors, services
from loyalty.models import CouponCode, LotConsumption, PointsEntry, Redemption, Reward
from loyalty.selectors import reconcile
from tests.factories import MemberFactory
from tests.loyalty.conftest import account, at, earn, make_reward

pytestmark = [pytest.mark.race, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def in_parallel(count: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` in ``count`` threads at once; results or raised exceptions, in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def worker(index: int) -> None:
        try:
            connection.ensure_connection()  # connect first, so the race is on the locks
            barrier.wait(timeout=30)
            results[index] = action(index)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    return results


def outcome(result: object) -> str:
    return "ok" if isinstance(result, services.RedeemResult) else type(result).__name__


def test_32_redemptions_by_one_member_whose_balance_covers_10(tiers, policy):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 500, at(2026, 1, 1))
    earn(member, 500, at(2026, 2, 1))  # two lots: spends cross lot boundaries under the race
    reward = make_reward(cost=100)

    results = in_parallel(32, lambda i: services.reward_redeem(member=member, reward=reward))

    assert Counter(outcome(r) for r in results) == {"ok": 10, "InsufficientPoints": 22}
    assert account(member).balance == 0
    assert Redemption.objects.count() == 10
    assert Reward.objects.get(pk=reward.pk).issued == 10
    assert reconcile() == []


def test_50_members_racing_for_a_stock_of_5(tiers, policy):
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(50)]
    for member in members:
        earn(member, 100, at(2026, 1, 1))
    reward = make_reward(cost=100, stock_total=5)

    results = in_parallel(50, lambda i: services.reward_redeem(member=members[i], reward=reward))

    assert Counter(outcome(r) for r in results) == {"ok": 5, "OutOfStock": 45}
    assert all(isinstance(r, errors.OutOfStock | services.RedeemResult) for r in results)
    assert Reward.objects.get(pk=reward.pk).issued == 5
    winners = {r.redemption.account.member_id for r in results if outcome(r) == "ok"}
    assert sum(account(m).balance for m in members) == 45 * 100
    assert all(account(m).balance == 0 for m in members if m.pk in winners)
    assert reconcile() == []


def test_32_members_racing_for_the_last_unit(tiers, policy):
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(32)]
    for member in members:
        earn(member, 100, at(2026, 1, 1))
    reward = make_reward(cost=100, stock_total=40)
    Reward.objects.filter(pk=reward.pk).update(issued=39)  # one unit left

    results = in_parallel(32, lambda i: services.reward_redeem(member=members[i], reward=reward))

    assert Counter(outcome(r) for r in results) == {"ok": 1, "OutOfStock": 31}
    assert Reward.objects.get(pk=reward.pk).issued == 40
    assert sum(account(m).balance for m in members) == 31 * 100  # the refused paid nothing
    assert PointsEntry.objects.filter(kind="redeem").count() == 1
    assert reconcile() == []


def test_32_members_racing_for_the_last_2_coupon_codes(tiers, policy):
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(32)]
    for member in members:
        earn(member, 100, at(2026, 1, 1))
    reward = make_reward(cost=100, fulfilment="coupon")  # no stock figure: the pool is the limit
    services.coupon_codes_add(reward=reward, codes=["X1", "X2"], actor=None)

    results = in_parallel(32, lambda i: services.reward_redeem(member=members[i], reward=reward))

    assert Counter(outcome(r) for r in results) == {"ok": 2, "OutOfStock": 30}
    winners = [r.redemption for r in results if outcome(r) == "ok"]
    assert sorted(r.coupon.code for r in winners) == ["X1", "X2"]
    assert sorted(
        CouponCode.objects.values_list("code", "redemption_id").order_by("code")
    ) == sorted((r.coupon.code, r.pk) for r in winners)
    assert Reward.objects.get(pk=reward.pk).issued == 2
    assert sum(account(m).balance for m in members) == 30 * 100
    assert reconcile() == []


def test_sold_out_at_the_stock_reservation_charges_nothing(tiers, policy):
    """The checks see one unit left; another transaction takes it while this redemption writes
    its charge; the reservation finds none, and the charge, lot takes and redemption roll back."""
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 500, at(2026, 1, 1))
    reward = make_reward(cost=100, stock_total=1)
    entries, takes = PointsEntry.objects.count(), LotConsumption.objects.count()

    results: list[object] = []

    def redeem() -> None:
        try:
            results.append(services.reward_redeem(member=member, reward=reward))
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results.append(error)
        finally:
            connection.close()

    redeeming = threading.Thread(target=redeem)
    with transaction.atomic():
        Reward.objects.filter(pk=reward.pk).update(issued=1)  # the last unit, not yet committed
        redeeming.start()
        with connection.cursor() as cursor:  # wait until it queues on the reward's row
            for _ in range(200):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the redemption never waited for the stock")
    redeeming.join(timeout=30)

    assert outcome(results[0]) == "OutOfStock"
    assert account(member).balance == 500
    assert (PointsEntry.objects.count(), LotConsumption.objects.count()) == (entries, takes)
    assert Redemption.objects.count() == 0
    assert Reward.objects.get(pk=reward.pk).issued == 1
    assert reconcile() == []


def test_the_same_idempotency_key_10_times_in_parallel_charges_once(tiers, policy):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 1000, at(2026, 1, 1))
    reward = make_reward(cost=300)
    url = f"/points/rewards/{reward.pk}/redeem/"

    def post(_index: int):
        client = Client()
        client.force_login(member.user)
        return client.post(url, HTTP_IDEMPOTENCY_KEY="retry-7f3a", HTTP_ACCEPT="application/json")

    responses = in_parallel(10, post)

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert {r.json()["redemption"] for r in responses} == {Redemption.objects.get().pk}
    assert sum(r.json()["replayed"] for r in responses) == 9
    assert account(member).balance == 700
    assert PointsEntry.objects.filter(kind="redeem").count() == 1
    assert reconcile() == []
