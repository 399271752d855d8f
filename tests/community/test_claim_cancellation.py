"""Staff taking an offer claim back: points refunded once, stock or code handled, member told."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import IntegrityError, connection, transaction

from community import privacy
from community.models import (
    OfferClaim,
    OfferClaimCancellation,
    OfferInventory,
    OfferWaitlistEntry,
)
from community.participation import services
from core.models import AuditEntry, Notification, NotificationPreference
from loyalty.models import EarningRule, PointsAccount
from tests.community.test_claims import balance_of, claim, give_points, make_offer, race
from tests.community.test_item_copy import open_twice
from tests.community.test_participation_admin import staff_with
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

ADMIN = "/admin/community/participation/"
MY_OFFERS_URL = "/community/my/offers/"
VIEW_CLAIMS = "community.view_offerclaim"
CANCEL_CLAIMS = "community.add_offerclaimcancellation"


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def gold(tiers):
    return MemberFactory(tier=tiers["gold"])


def shared_offer(tiers, **fields):
    defaults = {"code_mode": "shared", "shared_code": "CLUB-2026", "total_stock": 1,
                "per_member_limit": 1}  # fmt: skip
    return make_offer(tiers["gold"], **{**defaults, **fields})


def cancel(the_claim, reason="重复领取，客服核实后取消", actor=None):
    return services.offer_claim_cancel(claim=the_claim, actor=actor, reason=reason)


def claimed(offer) -> int:
    return OfferInventory.objects.get(offer=offer).claimed


def test_cancelling_undoes_the_price_the_award_and_the_stock(client, tiers, gold):
    EarningRule.objects.create(name="领取优惠", trigger="offer_claimed", points=50)
    give_points(gold, 800)
    offer = shared_offer(tiers, points_price=500)
    taken = claim(offer, gold)
    assert balance_of(gold) == 800 - 500 + 50
    assert claimed(offer) == 1
    staff = StaffFactory()

    cancellation = cancel(taken, actor=staff)

    assert (cancellation.points_refunded, cancellation.points_taken_back) == (500, 50)
    assert cancellation.stock_returned
    assert balance_of(gold) == 800
    assert claimed(offer) == 0
    notice = Notification.objects.get(user=gold.user, kind="offer_claim_cancelled")
    assert offer.title in notice.title and "重复领取，客服核实后取消" in notice.body
    assert "500" in notice.body
    entry = AuditEntry.objects.get(action="offer.claim_cancelled")
    assert entry.actor == staff and entry.after["points_refunded"] == 500
    exported = privacy.offer_claims(gold)
    assert exported[0]["cancel_reason"] == "重复领取，客服核实后取消"
    assert exported[0]["points_refunded"] == 500

    # The member sees it cancelled, and may claim again: the cancelled claim no longer counts.
    client.force_login(gold.user)
    mine = client.get(MY_OFFERS_URL).content.decode()
    assert "已取消" in mine and "重复领取，客服核实后取消" in mine
    page = client.get(offer.url).content.decode()
    assert "立即领取" in page and "CLUB-2026" not in page
    again = claim(offer, gold)
    assert again.pk != taken.pk and balance_of(gold) == 800 - 500 + 50


def test_a_cancelled_pool_code_is_void_and_never_handed_out_again(client, tiers, gold):
    offer = make_offer(tiers["gold"], codes=["VOID-1", "NEXT-2", "NEXT-3"])
    taken = claim(offer, gold)
    assert taken.code == "VOID-1"
    client.force_login(gold.user)
    kept = open_twice(client, offer.url)
    assert kept["X-Page-Cache"] == "hit"
    assert '<code class="coupon-code">VOID-1' in kept.content.decode()

    # A member who muted these notices gets none, so no unread badge changes either: only the
    # cancellation itself tells the kept copy of the page that it is stale.
    NotificationPreference.objects.create(user=gold.user, kind="offer_claim_cancelled")

    cancellation = cancel(taken)

    assert not Notification.objects.filter(user=gold.user).exists()
    assert "VOID-1" not in client.get(offer.url).content.decode()

    assert not cancellation.stock_returned
    others = [claim(offer, MemberFactory(tier=tiers["gold"])).code for _ in range(2)]
    assert others == ["NEXT-2", "NEXT-3"]
    with pytest.raises(services.SoldOut):
        claim(offer, gold)
    mine = client.get(MY_OFFERS_URL).content.decode()
    assert "<del" in mine and "VOID-1" in mine and "已作废" in mine
    assert '<code class="coupon-code">VOID-1' not in mine


def test_a_freed_unit_goes_to_the_waiting_list_first(tiers, gold):
    offer = shared_offer(tiers)
    taken = claim(offer, gold)
    waiting = MemberFactory(tier=tiers["gold"])
    services.offer_waitlist_join(offer=offer, member=waiting)
    late = MemberFactory(tier=tiers["gold"])

    cancel(taken)

    entry = OfferWaitlistEntry.objects.get(offer=offer, member=waiting)
    assert entry.state == OfferWaitlistEntry.State.HELD
    with pytest.raises(services.SoldOut):
        claim(offer, late)
    assert claim(offer, waiting).code == "CLUB-2026"


def test_without_a_reason_nothing_changes(tiers, gold):
    give_points(gold, 800)
    offer = shared_offer(tiers, points_price=300)
    taken = claim(offer, gold)
    with pytest.raises(services.CancelReasonRequired):
        cancel(taken, reason="   ")
    assert not OfferClaimCancellation.objects.exists()
    assert balance_of(gold) == 500 and claimed(offer) == 1


def test_cancelling_twice_refunds_once(tiers, gold):
    give_points(gold, 800)
    offer = shared_offer(tiers, points_price=300)
    taken = claim(offer, gold)
    first = cancel(taken)
    second = cancel(taken, reason="又点了一次")
    assert second.pk == first.pk and second.reason == first.reason
    assert balance_of(gold) == 800 and claimed(offer) == 0
    assert Notification.objects.filter(user=gold.user, kind="offer_claim_cancelled").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_staff_cancelling_at_once_refund_once():
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    give_points(member, 800)
    offer = shared_offer(tiers, points_price=300)
    taken = claim(offer, member)
    results = race(4, lambda i: cancel(taken, reason=f"客服 {i}").pk)
    assert len({value for _state, value in results}) == 1
    assert OfferClaimCancellation.objects.count() == 1
    assert balance_of(member) == 800 and claimed(offer) == 0


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_racing_the_members_new_claim_stays_exact():
    """Member → points account → stock for both: no deadlock, and whichever comes first, the
    live claims, the stock and the balance agree."""
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    give_points(member, 1000)
    offer = shared_offer(tiers, points_price=300, total_stock=5)
    taken = claim(offer, member)

    def act(index: int):
        return cancel(taken).pk if index == 0 else claim(offer, member).pk

    results = race(2, act)
    assert results[0][0] == "ok"
    live = OfferClaim.objects.live().filter(offer=offer, member=member).count()
    assert live == (1 if results[1][0] == "ok" else 0)
    assert results[1] == ("ok", results[1][1]) or results[1] == ("refused", "claim_limit")
    assert claimed(offer) == live
    assert PointsAccount.objects.get(member=member).balance == 1000 - 300 * live


def test_cancellations_are_append_only(tiers, gold):
    cancellation = cancel(claim(shared_offer(tiers), gold))
    with pytest.raises(TypeError):
        cancellation.save()
    with pytest.raises(TypeError):
        OfferClaimCancellation.objects.filter(pk=cancellation.pk).update(reason="改过")
    table = OfferClaimCancellation._meta.db_table
    for sql in (f"UPDATE {table} SET reason = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert OfferClaimCancellation.objects.get().reason == "重复领取，客服核实后取消"


# --- the staff screen ---------------------------------------------------------------------------


def test_staff_cancel_a_claim_from_the_offer_screen(client, tiers, gold):
    give_points(gold, 800)
    offer = shared_offer(tiers, points_price=200)
    taken = claim(offer, gold)
    staff = staff_with(VIEW_CLAIMS, CANCEL_CLAIMS)
    client.force_login(staff)
    url = f"{ADMIN}offers/{offer.pk}/claims/{taken.pk}/cancel/"
    assert url in client.get(f"{ADMIN}offers/{offer.pk}/").content.decode()
    confirm = client.get(url).content.decode()
    assert "退回会员支付的 200 积分" in confirm

    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200 and not OfferClaimCancellation.objects.exists()

    response = client.post(url, {"reason": "会员投诉，核实后退回"})
    assert response.status_code == 302
    assert balance_of(gold) == 800
    detail = client.get(f"{ADMIN}offers/{offer.pk}/").content.decode()
    assert "已取消" in detail and url not in detail
    assert "已于" in client.get(url).content.decode()  # a second visit shows what was done

    rows = list(csv.reader(io.StringIO(client.get(f"{ADMIN}offers/{offer.pk}/claims.csv")
                                       .content.decode("utf-8")[1:])))  # fmt: skip
    assert rows[0][-3:] == ["取消时间", "取消原因", "退回积分"]
    assert rows[1][-2:] == ["会员投诉，核实后退回", "200"]
    entry = AuditEntry.objects.get(action="offer.claim_cancelled")
    assert entry.actor == staff and entry.reason == "会员投诉，核实后退回"


def test_staff_who_may_only_view_claims_cannot_cancel(client, tiers, gold):
    offer = shared_offer(tiers)
    taken = claim(offer, gold)
    client.force_login(staff_with(VIEW_CLAIMS))
    url = f"{ADMIN}offers/{offer.pk}/claims/{taken.pk}/cancel/"
    assert url not in client.get(f"{ADMIN}offers/{offer.pk}/").content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "试试"}).status_code == 403
    assert not OfferClaimCancellation.objects.exists() and claimed(offer) == 1


def test_a_claim_of_another_offer_is_not_found(client, tiers, gold):
    offer, other = shared_offer(tiers), shared_offer(tiers)
    taken = claim(offer, gold)
    client.force_login(staff_with(VIEW_CLAIMS, CANCEL_CLAIMS))
    url = f"{ADMIN}offers/{other.pk}/claims/{taken.pk}/cancel/"
    assert client.post(url, {"reason": "错误的优惠"}).status_code == 404
    assert not OfferClaimCancellation.objects.exists()


def test_outsiders_and_members_cannot_cancel_a_claim(client, tiers, gold):
    offer = shared_offer(tiers)
    taken = claim(offer, gold)
    url = f"{ADMIN}offers/{offer.pk}/claims/{taken.pk}/cancel/"
    for person in (None, gold, MemberFactory(tier=tiers["platinum"])):
        if person is not None:
            client.force_login(person.user)
        assert client.get(url).status_code in (302, 403)
        assert client.post(url, {"reason": "自己取消"}).status_code in (302, 403)
    assert not OfferClaimCancellation.objects.exists() and claimed(offer) == 1
    # Another member's list never shows the claim or its cancellation.
    cancel(taken)
    other = MemberFactory(tier=tiers["gold"])
    client.force_login(other.user)
    assert "重复领取，客服核实后取消" not in client.get(MY_OFFERS_URL).content.decode()
