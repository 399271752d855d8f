"""Claiming offers: one code per claim from the pool, under a lock, shown to its owner only."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community import demo
from community.models import CommunityHome, OfferClaim, OfferCode, OfferInventory, OfferPage
from community.participation import services
from core.errors import DomainError
from members.models import Member
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db

MY_OFFERS_URL = "/community/my/offers/"


# --- helpers shared with the other participation tests ----------------------------------------


def community_home() -> CommunityHome:
    demo.load_structure()
    return CommunityHome.objects.get()


def publish_item(page):
    community_home().add_child(instance=page)
    page.save_revision().publish()
    page.refresh_from_db()
    return page


def make_offer(tier=None, *, codes: int | list[str] = 0, **fields) -> OfferPage:
    """A live offer for ``tier`` and above (any member when None), open now, pool mode."""
    now = timezone.now()
    slug = fields.pop("slug", f"offer-{uuid.uuid4().hex[:8]}")
    defaults = {
        "title": f"专属优惠 {slug}", "slug": slug, "summary": "会员专享折扣。",
        "access": "min_tier" if tier else "members", "min_tier": tier,
        "body": [("paragraph", "<p>开场白</p>"), ("paywall", None),
                 ("paragraph", f"<p>{demo.secret_marker(slug)}</p>")],
        "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=1),
        "code_mode": OfferPage.CodeMode.POOL, "per_member_limit": 1,
    }  # fmt: skip
    offer = publish_item(OfferPage(**{**defaults, **fields}))
    if codes:
        pool = codes if isinstance(codes, list) else [f"{slug}-C{n:03d}" for n in range(codes)]
        services.offer_codes_add(offer=offer, codes=pool, actor=None)
    return offer


def key() -> str:
    return uuid.uuid4().hex


def claim(offer, member, idempotency_key: str | None = None) -> OfferClaim:
    return services.offer_claim(
        offer=offer, member=member, idempotency_key=idempotency_key or key()
    )


def snapshot(offer) -> tuple:
    """Everything a claim may change."""
    inventory = OfferInventory.objects.filter(offer=offer).values_list("total", "claimed").first()
    free = OfferCode.objects.filter(offer=offer, claimed_by__isnull=True).count()
    return OfferClaim.objects.filter(offer=offer).count(), inventory, free


def race(count: int, action) -> list[tuple[str, object]]:
    """Run ``action(i)`` in ``count`` threads released together; each uses its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", action(index))
        except DomainError as error:
            results[index] = ("refused", error.code)
        except Exception as error:  # noqa: BLE001 - reported in the assertion below
            results[index] = ("crashed", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [r for r in results if r is None or r[0] == "crashed"], results
    return results


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def gold(tiers):
    return MemberFactory(tier=tiers["gold"])


# --- the happy path and who sees the code -------------------------------------------------------


def test_claim_hands_out_the_first_free_pool_code_and_counts_it(tiers, gold):
    offer = make_offer(tiers["gold"], codes=["A-1", "A-2", "A-3"])
    result = claim(offer, gold)
    assert result.code == "A-1"
    assert result.pool_code.claimed_by == gold and result.pool_code.claimed_at is not None
    assert snapshot(offer) == (1, (3, 1), 2)


def test_code_is_shown_only_to_its_owner(client, tiers, gold):
    offer = make_offer(tiers["gold"], codes=["GOLD-SECRET-1", "GOLD-SECRET-2"])
    client.force_login(gold.user)
    page = client.get(offer.url).content.decode()
    assert "立即领取" in page and "GOLD-SECRET" not in page

    response = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    body = response.content.decode()
    assert "领取成功" in body
    assert "GOLD-SECRET-1" in body and "GOLD-SECRET-2" not in body
    assert "GOLD-SECRET-1" in client.get(MY_OFFERS_URL).content.decode()
    for surface in ("/api/items/", "/feed/", "/search/?q=专属优惠", "/community/"):
        assert "GOLD-SECRET" not in client.get(surface).content.decode(), surface

    other_gold = MemberFactory(tier=tiers["gold"])
    client.force_login(other_gold.user)
    other_page = client.get(offer.url).content.decode()
    assert "立即领取" in other_page and "GOLD-SECRET" not in other_page
    assert "GOLD-SECRET" not in client.get(MY_OFFERS_URL).content.decode()

    client.logout()
    teaser = client.get(offer.url).content.decode()
    assert 'data-testid="paywall"' in teaser
    assert 'data-testid="claim"' not in teaser and "GOLD-SECRET" not in teaser
    assert demo.secret_marker(offer.slug) not in teaser
    assert client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}).status_code == 302
    assert snapshot(offer)[0] == 1


def test_silver_member_sees_the_teaser_and_no_claim_box(client, tiers):
    offer = make_offer(tiers["gold"], codes=1)
    client.force_login(MemberFactory(tier=tiers["silver"]).user)
    body = client.get(offer.url).content.decode()
    assert 'data-testid="paywall"' in body and 'data-testid="claim"' not in body


def test_shared_code_offer_counts_stock_and_gives_everyone_the_same_code(client, tiers, gold):
    offer = make_offer(tiers["gold"], code_mode="shared", shared_code="SHARED-2026",
                       total_stock=2, per_member_limit=1)  # fmt: skip
    second = MemberFactory(tier=tiers["platinum"])
    assert claim(offer, gold).code == "SHARED-2026"
    assert claim(offer, second).code == "SHARED-2026"
    late = MemberFactory(tier=tiers["gold"])
    with pytest.raises(services.SoldOut):
        claim(offer, late)
    assert snapshot(offer) == (2, (2, 2), 0)
    client.force_login(late.user)
    assert "SHARED-2026" not in client.get(offer.url).content.decode()
    client.force_login(gold.user)
    assert "SHARED-2026" in client.get(offer.url).content.decode()


def test_replaying_the_same_idempotency_key_claims_once(tiers, gold):
    offer = make_offer(tiers["gold"], codes=3, per_member_limit=3)
    first = claim(offer, gold, "same-key")
    assert claim(offer, gold, "same-key").pk == first.pk
    assert snapshot(offer) == (1, (3, 1), 2)
    with pytest.raises(services.IdempotencyConflict):
        claim(offer, MemberFactory(tier=tiers["gold"]), "same-key")
    assert snapshot(offer) == (1, (3, 1), 2)


def test_per_member_limit_above_one(tiers, gold):
    offer = make_offer(tiers["gold"], codes=5, per_member_limit=2)
    codes = {claim(offer, gold).code, claim(offer, gold).code}
    assert len(codes) == 2
    with pytest.raises(services.ClaimLimitReached):
        claim(offer, gold)


# --- every refusal, and that nothing changed ----------------------------------------------------


def test_sold_out_changes_nothing(client, tiers, gold):
    offer = make_offer(tiers["gold"], codes=1)
    claim(offer, gold)
    before = snapshot(offer)
    late = MemberFactory(tier=tiers["gold"])
    with pytest.raises(services.SoldOut):
        claim(offer, late)
    client.force_login(late.user)
    body = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    assert "已领完" in body.content.decode()
    assert snapshot(offer) == before


def test_limit_reached_changes_nothing(client, tiers, gold):
    offer = make_offer(tiers["gold"], codes=3, per_member_limit=1)
    claim(offer, gold)
    before = snapshot(offer)
    with pytest.raises(services.ClaimLimitReached):
        claim(offer, gold)
    client.force_login(gold.user)
    page = client.get(offer.url).content.decode()
    assert "已达领取上限" in page and "立即领取" not in page
    body = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    assert "已达领取上限" in body.content.decode()
    assert snapshot(offer) == before


@pytest.mark.parametrize("window", ["ended", "not_started"])
def test_outside_the_claim_window_changes_nothing(client, tiers, gold, window):
    now = timezone.now()
    if window == "ended":
        span = {"valid_from": now - timedelta(days=3), "valid_until": now - timedelta(days=1)}
    else:
        span = {"valid_from": now + timedelta(days=1), "valid_until": now + timedelta(days=3)}
    offer = make_offer(tiers["gold"], codes=2, **span)
    before = snapshot(offer)
    with pytest.raises(services.OutsideClaimWindow):
        claim(offer, gold)
    client.force_login(gold.user)
    body = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    assert "不在领取时间内" in body.content.decode()
    assert snapshot(offer) == before


def test_tier_too_low_changes_nothing(client, tiers):
    offer = make_offer(tiers["gold"], codes=2)
    silver = MemberFactory(tier=tiers["silver"])
    before = snapshot(offer)
    with pytest.raises(services.TierTooLow) as error:
        claim(offer, silver)
    assert "等级不够" in error.value.message
    client.force_login(silver.user)
    body = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    assert "等级不够" in body.content.decode()
    assert snapshot(offer) == before


def test_early_access_keeps_lower_tier_out_until_it_ends(tiers, gold):
    offer = make_offer(tiers["gold"], codes=2, early_access_tier=tiers["platinum"],
                       early_access_until=timezone.now() + timedelta(hours=48))  # fmt: skip
    with pytest.raises(services.TierTooLow):
        claim(offer, gold)
    assert claim(offer, MemberFactory(tier=tiers["platinum"])).code


@pytest.mark.parametrize(
    "state", [Member.State.SUSPENDED, Member.State.APPLICANT, Member.State.LEFT]
)
def test_not_an_admitted_member_changes_nothing(tiers, state):
    offer = make_offer(tiers["gold"], codes=2)
    member = MemberFactory(tier=tiers["platinum"], state=state)
    before = snapshot(offer)
    with pytest.raises(services.AccountStateNotAllowed) as error:
        claim(offer, member)
    assert "账户状态不允许" in error.value.message
    assert snapshot(offer) == before


def test_staff_without_a_member_record_cannot_claim(client, tiers):
    from tests.factories import StaffFactory

    offer = make_offer(tiers["gold"], codes=2)
    client.force_login(StaffFactory())
    body = client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}, follow=True)
    assert "账户状态不允许" in body.content.decode()
    assert snapshot(offer)[0] == 0


def test_unpublished_offer_is_not_found(client, tiers, gold):
    offer = make_offer(tiers["gold"], codes=2)
    offer.unpublish()
    client.force_login(gold.user)
    assert client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}).status_code == 404
    assert snapshot(offer)[0] == 0


def test_hidden_offer_is_not_found_for_a_lower_tier(client, tiers):
    offer = make_offer(tiers["platinum"], codes=2, hide_when_locked=True)
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    assert client.post(f"/community/offers/{offer.pk}/claim/", {"key": key()}).status_code == 404


def test_claim_requires_post_and_login(client, tiers):
    offer = make_offer(tiers["gold"], codes=1)
    url = f"/community/offers/{offer.pk}/claim/"
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    assert client.get(url).status_code == 405


# --- points price: the loyalty integration point ------------------------------------------------


def give_points(member, amount: int) -> None:
    from loyalty.services import points_adjust
    from tests.factories import StaffFactory

    points_adjust(member=member, amount=amount, reason="测试积分", actor=StaffFactory())


def balance_of(member) -> int:
    from loyalty.models import PointsAccount

    return PointsAccount.objects.get(member=member).balance


def test_points_are_charged_inside_the_claim_transaction(tiers, gold):
    give_points(gold, 800)
    offer = make_offer(tiers["gold"], codes=2, points_price=500)
    result = claim(offer, gold, "k-points")
    assert result.points_spent == 500
    assert balance_of(gold) == 300
    # Retrying the same claim charges nothing more.
    assert claim(offer, gold, "k-points").pk == result.pk
    assert balance_of(gold) == 300


def test_not_enough_points_rolls_the_claim_back(tiers, gold):
    from loyalty.errors import InsufficientPoints

    give_points(gold, 100)
    offer = make_offer(tiers["gold"], codes=2, points_price=500)
    before = snapshot(offer)
    with pytest.raises(InsufficientPoints):
        claim(offer, gold)
    assert snapshot(offer) == before
    assert balance_of(gold) == 100


# --- code pool ----------------------------------------------------------------------------------


def test_code_pool_upload_skips_duplicates_and_total_follows_the_pool(tiers):
    offer = make_offer(tiers["gold"])
    first = services.offer_codes_add(offer=offer, codes=["X1", "X2", "X2", " X3 ", ""], actor=None)
    assert (first.added, first.duplicates, first.total) == (3, 0, 3)
    second = services.offer_codes_add(offer=offer, codes=["X3", "X4"], actor=None)
    assert (second.added, second.duplicates, second.total) == (1, 1, 4)
    assert OfferInventory.objects.get(offer=offer).total == 4
    with pytest.raises(services.InvalidCodes):
        services.offer_codes_add(offer=offer, codes=["Y" * 65], actor=None)
    shared = make_offer(tiers["gold"], code_mode="shared", shared_code="S", total_stock=3)
    with pytest.raises(services.InvalidCodes):
        services.offer_codes_add(offer=shared, codes=["Z1"], actor=None)


def test_lowering_shared_stock_never_goes_below_what_was_claimed(tiers, gold):
    offer = make_offer(tiers["gold"], code_mode="shared", shared_code="S1", total_stock=3)
    claim(offer, gold)
    offer.total_stock = 0
    offer.save_revision().publish()
    inventory = services.offer_inventory_sync(offer=offer)
    assert (inventory.total, inventory.claimed) == (1, 1)
    with pytest.raises(services.SoldOut):
        claim(offer, MemberFactory(tier=tiers["gold"]))


# --- the database holds the invariants ----------------------------------------------------------


def test_inventory_cannot_claim_more_than_its_total(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    inventory = OfferInventory.objects.get(offer=offer)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferInventory.objects.filter(pk=inventory.pk).update(claimed=2)


def test_the_same_code_cannot_be_in_a_pool_twice(tiers):
    offer = make_offer(tiers["gold"], codes=["DUP"])
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferCode.objects.create(offer=offer, code="DUP")


def test_a_pool_code_cannot_be_given_twice(tiers, gold):
    offer = make_offer(tiers["gold"], codes=2)
    first = claim(offer, gold)
    other = MemberFactory(tier=tiers["gold"])
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferClaim.objects.create(offer=offer, member=other, pool_code=first.pool_code,
                                  code=first.code, idempotency_key=key())  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferClaim.objects.create(offer=offer, member=other, code="X",
                                  idempotency_key=first.idempotency_key)  # fmt: skip


def test_pool_and_claim_rows_reject_half_filled_or_blank_values(tiers, gold):
    offer = make_offer(tiers["gold"], codes=["C1"])
    code = OfferCode.objects.get(offer=offer)
    bad_writes = [
        lambda: OfferCode.objects.filter(pk=code.pk).update(claimed_by=gold),
        lambda: OfferCode.objects.create(offer=offer, code=""),
        lambda: OfferClaim.objects.create(offer=offer, member=gold, code="", idempotency_key=key()),
        lambda: OfferClaim.objects.create(offer=offer, member=gold, code="C", idempotency_key=""),
    ]
    for write in bad_writes:
        with pytest.raises(IntegrityError), transaction.atomic():
            write()


def test_claims_are_append_only(tiers, gold):
    result = claim(make_offer(tiers["gold"], codes=1), gold)
    with pytest.raises(TypeError):
        result.save()
    with pytest.raises(TypeError):
        result.delete()
    with pytest.raises(TypeError):
        OfferClaim.objects.filter(pk=result.pk).update(code="changed")
    with pytest.raises(TypeError):
        OfferClaim.objects.filter(pk=result.pk).delete()
    table = OfferClaim._meta.db_table
    for sql in (f"UPDATE {table} SET code = 'changed' WHERE id = %s",
                f"DELETE FROM {table} WHERE id = %s"):  # fmt: skip
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [result.pk])
    assert OfferClaim.objects.get(pk=result.pk).code == result.code


# --- "我的优惠" ----------------------------------------------------------------------------------


def test_my_offers_query_count_does_not_grow_with_claims(client, tiers, gold):
    client.force_login(gold.user)
    offers = [make_offer(tiers["gold"], codes=1) for _ in range(6)]
    claim(offers[0], gold)
    client.get(MY_OFFERS_URL)  # warm caches (Wagtail's site root paths)
    with CaptureQueriesContext(connection) as one:
        assert client.get(MY_OFFERS_URL).status_code == 200
    for offer in offers[1:]:
        claim(offer, gold)
    with CaptureQueriesContext(connection) as six:
        response = client.get(MY_OFFERS_URL)
    body = response.content.decode()
    assert all(offer.title in body for offer in offers)
    assert len(six) == len(one), [q["sql"] for q in six.captured_queries]


def test_my_offers_is_for_admitted_members(client, tiers):
    assert client.get(MY_OFFERS_URL).status_code == 302
    client.force_login(MemberFactory(tier=tiers["gold"], state=Member.State.APPLICANT).user)
    assert client.get(MY_OFFERS_URL).status_code == 403


# --- real concurrency ---------------------------------------------------------------------------


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_fifty_members_racing_for_five_codes_get_exactly_five_distinct_codes():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=5)
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(50)]

    results = race(50, lambda i: claim(offer, members[i]).code)

    codes = [value for outcome, value in results if outcome == "ok"]
    refusals = [value for outcome, value in results if outcome == "refused"]
    assert len(codes) == 5 and len(set(codes)) == 5
    assert refusals == ["sold_out"] * 45
    assert snapshot(offer) == (5, (5, 5), 0)
    assert set(OfferClaim.objects.values_list("code", flat=True)) == set(codes)


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_one_member_firing_ten_parallel_claims_with_limit_one_gets_exactly_one():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=10, per_member_limit=1)
    member = MemberFactory(tier=tiers["gold"])

    results = race(10, lambda i: claim(offer, member).code)

    assert [outcome for outcome, _ in results].count("ok") == 1
    assert (
        sorted(value for outcome, value in results if outcome == "refused") == ["claim_limit"] * 9
    )
    assert snapshot(offer) == (1, (10, 1), 9)


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_shared_code_stock_holds_under_a_race():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], code_mode="shared", shared_code="RACE", total_stock=3)
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(15)]

    results = race(15, lambda i: claim(offer, members[i]).code)

    assert [value for outcome, value in results if outcome == "ok"] == ["RACE"] * 3
    assert OfferInventory.objects.get(offer=offer).claimed == 3


def test_demo_offers_get_their_code_pools(tiers):
    from community.demo_participation import load_participation

    demo.load()
    load_participation()
    load_participation()  # safe to run again
    silver_coupon = OfferPage.objects.get(slug="silver-coupon")
    assert OfferCode.objects.filter(offer=silver_coupon).count() == silver_coupon.total_stock
    presale = OfferPage.objects.get(slug="presale-early-access")
    assert OfferInventory.objects.get(offer=presale).total == presale.total_stock
    member = MemberFactory(tier=tiers["silver"])
    assert claim(silver_coupon, member).code == "SILVER-COUPON-0001"
