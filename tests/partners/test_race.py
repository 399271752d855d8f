"""Real concurrency on PostgreSQL: partner holds racing the member's own redemptions for the
same points, and retries of one write racing each other. Exactly the allowed number succeed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import PartnerHold, PointsAccount, Redemption
from loyalty.selectors import reconcile
from partners.models import PartnerRequest
from tests.factories import MemberFactory
from tests.loyalty.conftest import earn, make_reward
from tests.loyalty.test_race import in_parallel
from tests.partners.conftest import PartnerClient, link_member

pytestmark = [pytest.mark.race, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def outcome(result: object) -> str:
    if isinstance(result, services.RedeemResult):
        return "redeemed"
    if isinstance(result, services.HoldResult):
        return "held"
    return type(result).__name__


@pytest.mark.parametrize("points, racers, winners", [(100, 16, 1), (500, 20, 5)])
def test_partner_holds_and_member_redemptions_race_for_the_same_points(
    partner, tiers, policy, points, racers, winners
):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, points // 2, timezone.now() - timedelta(days=40))
    earn(member, points - points // 2, timezone.now() - timedelta(days=20))  # two lots
    link = link_member(partner, member)
    reward = make_reward(cost=100)

    def action(i: int):
        if i % 2:
            return services.reward_redeem(member=member, reward=reward)
        return services.partner_hold(
            partner=partner, link=link, amount=100, idempotency_key=f"race-{i}"
        )

    results = in_parallel(racers, action)

    counts = Counter(outcome(r) for r in results)
    assert counts["held"] + counts["redeemed"] == winners, counts
    assert counts["InsufficientPoints"] == racers - winners, counts
    assert PointsAccount.objects.get(member=member).balance == 0
    assert PartnerHold.objects.count() + Redemption.objects.count() == winners
    assert reconcile() == []


def test_retries_of_one_hold_racing_each_other_hold_once(partner, partner_client, tiers, policy):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 1000, timezone.now() - timedelta(days=1))
    link = link_member(partner, member)

    def action(_i: int):
        signer = PartnerClient(partner_client.key_id, partner_client.secret)  # one per thread
        return signer.post(
            f"/members/{link.public_id}/holds", {"amount": 300}, key="till-4-order-88"
        )

    responses = in_parallel(8, action)

    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1  # every retry got the first answer
    assert PartnerHold.objects.count() == 1
    assert PartnerRequest.objects.count() == 1
    assert PointsAccount.objects.get(member=member).balance == 700
    assert reconcile() == []
