"""One lock order (``core.locking``): paths that used to lock one member's rows in opposite
orders, raced against each other on real PostgreSQL. Every thread finishes (no deadlock, no
lock timeout) and the results are exact.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction

from community.models import OfferClaim, OfferInventory
from community.participation import services as participation
from core.audit import audit_check, audit_seal
from core.errors import Busy
from core.locking import Lock, LockOrderError, lock_one, lock_rows
from loyalty import services as loyalty
from loyalty.models import EarningRule, PointsAccount, TierRequirement, Trigger
from members.models import Member
from share.models import Share, ShareReferral
from share.services import referral_attach
from tests.community.test_claims import make_offer
from tests.factories import MemberFactory, standard_tiers

pytestmark = [pytest.mark.race, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def in_parallel(actions: list[Callable[[], object]]) -> list[object]:
    """Run every action in its own thread and connection, released together by a barrier."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def worker(index: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[index] = actions[index]()
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    return results


def kinds(results: list[object]) -> Counter:
    return Counter(
        "error:" + type(r).__name__ if isinstance(r, Exception) else "ok" for r in results
    )


@pytest.fixture
def tiers():
    tiers = standard_tiers()
    TierRequirement.objects.update_or_create(tier=tiers["regular"], defaults={"threshold": 0})
    TierRequirement.objects.update_or_create(tier=tiers["silver"], defaults={"threshold": 1000})
    return tiers


def upgrade_rule() -> EarningRule:
    """1,000 points for a custom event: enough to reach silver, so the award changes the tier."""
    return EarningRule.objects.create(
        name="升级", trigger=Trigger.CUSTOM, event_code="upgrade", points=1000
    )


def award_upgrade(member: Member, n: int = 0):
    return lambda: loyalty.points_award_for_event(
        member=member,
        trigger=Trigger.CUSTOM,
        event_code="upgrade",
        natural_key=f"up:{member.pk}:{n}",
    )


def test_offer_claims_race_tier_upgrades_of_the_same_members(tiers):
    """A claim locks member → points account → stock → codes (it earns points in its
    transaction); an upgrade locks member → points account, then writes the member's tier.
    Before one order, the claim held the member and the upgrade the account: a deadlock."""
    upgrade_rule()
    EarningRule.objects.create(name="领券", trigger=Trigger.OFFER_CLAIMED, points=5)
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(10)]
    offer = make_offer(codes=10)

    actions: list[Callable[[], object]] = []
    for member in members:
        actions.append(
            lambda m=member: participation.offer_claim(
                offer=offer, member=m, idempotency_key=f"claim-{m.pk}"
            )
        )
        actions.append(award_upgrade(member))
    results = in_parallel(actions)

    assert kinds(results) == {"ok": 20}
    assert OfferClaim.objects.filter(offer=offer).count() == 10
    assert OfferInventory.objects.get(offer=offer).claimed == 10
    for member in members:
        member.refresh_from_db()
        assert member.tier == tiers["silver"]
        assert PointsAccount.objects.get(member=member).balance == 1000 + 5


def test_referrals_race_tier_upgrades_of_the_sharer(tiers):
    """A referral credits the sharer inside its transaction and writes an audit entry; an upgrade
    of the sharer writes one too. The audit entry used to take a site-wide lock before the
    account lock in one path and after it in the other; now it takes none."""
    upgrade_rule()
    EarningRule.objects.create(
        name="分享带来申请", trigger=Trigger.SHARE_REFERRAL_APPLIED, points=7
    )
    sharer = MemberFactory(tier=tiers["regular"])
    share = Share.objects.create(
        member=sharer, kind=Share.Kind.TIER, tier=tiers["regular"], subject_key="tier:regular",
        subject_title="普通会员", text="来加入", token=uuid.uuid4().hex[:32],
        confirmation_key=uuid.uuid4().hex, rip="203.0.113.9",
    )  # fmt: skip
    outsiders = [MemberFactory(state=Member.State.APPLICANT) for _ in range(8)]

    actions: list[Callable[[], object]] = []
    for n, outsider in enumerate(outsiders):
        actions.append(lambda o=outsider: referral_attach(member=o, share_id=share.pk))
        actions.append(award_upgrade(sharer, n))
    results = in_parallel(actions)

    assert kinds(results) == {"ok": 16}
    assert ShareReferral.objects.filter(share=share).count() == 8
    sharer.refresh_from_db()
    assert sharer.tier == tiers["silver"]
    assert PointsAccount.objects.get(member=sharer).balance == 8 * 1000 + 8 * 7
    audit_seal()
    assert audit_check().broken == []


def test_redemptions_race_offer_claims_with_a_points_price(tiers):
    """The same members redeem a reward (points account → stock) and claim an offer with a points
    price (member → points account → stock → codes): each charge lands exactly once."""
    from loyalty.models import Reward

    upgrade_rule()
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(8)]
    for member in members:
        award_upgrade(member)()
    reward = Reward.objects.create(name="礼品", cost=100, fulfilment="donation", stock_total=8)
    offer = make_offer(codes=8, points_price=50)

    actions: list[Callable[[], object]] = []
    for member in members:
        actions.append(lambda m=member: loyalty.reward_redeem(member=m, reward=reward))
        actions.append(
            lambda m=member: participation.offer_claim(
                offer=offer, member=m, idempotency_key=f"p-{m.pk}"
            )
        )
    results = in_parallel(actions)

    assert kinds(results) == {"ok": 16}
    assert Reward.objects.get(pk=reward.pk).issued == 8
    for member in members:
        assert PointsAccount.objects.get(member=member).balance == 1000 - 100 - 50


def test_a_lock_not_granted_in_time_is_a_domain_error_and_changes_nothing(tiers):
    member = MemberFactory(tier=tiers["regular"])
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lock_rows((Lock.MEMBER, Member.objects.filter(pk=member.pk)))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        with pytest.raises(Busy), transaction.atomic():
            lock_one(Lock.MEMBER, Member.objects.filter(pk=member.pk), timeout_ms=200)
    finally:
        release.set()
        holder.join(timeout=30)


def test_locks_are_refused_out_of_order_or_outside_a_transaction(tiers):
    member = MemberFactory(tier=tiers["regular"])
    with pytest.raises(LockOrderError):
        lock_rows((Lock.MEMBER, Member.objects.filter(pk=member.pk)))
    with pytest.raises(LockOrderError), transaction.atomic():
        lock_rows(
            (Lock.POINTS_ACCOUNT, PointsAccount.objects.all()),
            (Lock.MEMBER, Member.objects.filter(pk=member.pk)),
        )


def test_removing_a_comment_races_its_author_and_a_tier_upgrade(tiers):
    """Taking back a removed comment's points locks the comment, then (through loyalty) the
    member and their points account; an upgrade locks member → account. A moderator and the
    author remove the same comments while each author's upgrade lands: no deadlock, each
    comment's award is taken back exactly once, and every balance equals its ledger."""
    from community import demo
    from community.interaction import services as interaction
    from community.models import CommunityHome
    from community.models_interaction import Comment
    from loyalty.models import EntryKind, PointsEntry
    from tests.community.test_interaction import publish_item
    from tests.factories import StaffFactory

    upgrade_rule()
    EarningRule.objects.create(name="评论", trigger=Trigger.COMMENT_APPROVED, points=5)
    demo.load_structure()
    post = publish_item(CommunityHome.objects.get(), access="members", slug="race-post")
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(6)]
    comments = [
        interaction.comment_create(member=m, page=post, body=f"评论 {m.pk}") for m in members
    ]
    moderator = StaffFactory()

    actions: list[Callable[[], object]] = []
    for member, comment in zip(members, comments, strict=True):
        actions.append(
            lambda c=comment: interaction.comment_moderate(
                comment=c, actor=moderator, decision="reject", reason="违规"
            )
        )
        actions.append(
            lambda c=comment, m=member: interaction.comment_withdraw(member=m, comment=c)
        )
        actions.append(award_upgrade(member))
    results = in_parallel(actions)

    # The slower of moderator and author finds the comment already removed.
    assert set(kinds(results)) <= {"ok", "error:DecisionNotApplicable"}
    assert Comment.objects.filter(state="removed").count() == len(comments)
    for member in members:
        account = PointsAccount.objects.get(member=member)
        entries = PointsEntry.objects.filter(account=account)
        assert entries.filter(kind=EntryKind.REVERSE).count() == 1
        assert account.balance == 1000 == sum(entries.values_list("amount", flat=True))
