"""A member's item page is kept for them, and never outlives a change it shows.

The page is kept per member and browser under a key naming the rows its personal parts read
(``community.item_copy``). What a member notices: opening the item again is served from the
copy, but another member's like, the last unit claimed by someone else, a place freed on the
waiting list, their own points, a tier change or a suspension show on the very next request.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from community import demo
from community.interaction.services import (
    comment_create,
    comment_like_toggle,
    item_like_toggle,
)
from community.models import PostPage
from community.models_participation import ItemViewCount
from community.participation import services
from community.participation.services import item_views_flush
from loyalty.models import PointsAccount
from loyalty.services import points_adjust
from members import services as member_services
from members.models import Member
from tests.community.test_claims import claim, make_offer, publish_item
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    return standard_tiers()


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def open_twice(client: Client, url: str):
    """The first visit hands the browser its CSRF cookie; the second is kept; the third may
    come from the copy."""
    client.get(url)
    client.get(url)
    return client.get(url)


def test_opening_an_item_again_is_served_from_the_copy_and_still_counted(tiers):
    offer = make_offer(tiers["gold"], codes=3)
    gold = MemberFactory(tier=tiers["gold"])
    client = signed_in(gold)
    kept = open_twice(client, offer.url)
    assert kept["X-Page-Cache"] == "hit"
    assert "private" in kept["Cache-Control"] and "no-store" in kept["Cache-Control"]
    item_views_flush()
    counted = sum(ItemViewCount.objects.filter(page_id=offer.pk).values_list("count", flat=True))
    assert counted == 3


def test_another_members_like_and_reply_show_on_the_next_request(tiers):
    post = publish_item(PostPage(title="金卡专享：秀场后台", slug="gold-backstage",
                                 access="min_tier", min_tier=tiers["gold"]))  # fmt: skip
    reader, other = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["platinum"])
    client = signed_in(reader)
    assert open_twice(client, post.url)["X-Page-Cache"] == "hit"

    item_like_toggle(member=other, page=post)
    fresh = client.get(post.url)
    assert fresh.get("X-Page-Cache") is None
    assert "点赞 · 1" in fresh.content.decode()

    client.get(post.url)
    comment = comment_create(member=reader, page=post, body="第一条评论")
    assert "第一条评论" in client.get(post.url).content.decode()
    client.get(post.url)
    kept = client.get(post.url)
    assert kept["X-Page-Cache"] == "hit"
    assert not liked_once(kept.content.decode())
    comment_like_toggle(member=other, comment=comment)  # bumps nothing shared
    assert liked_once(client.get(post.url).content.decode())


def liked_once(html: str) -> bool:
    """The comment shows one like, whether its like button or its count is drawn."""
    return bool(re.search(r"赞\s+1\s*<|>\s*1 赞", html))


def test_the_last_unit_claimed_by_someone_else_shows_as_sold_out(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    reader, quicker = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["gold"])
    client = signed_in(reader)
    page = open_twice(client, offer.url)
    assert page["X-Page-Cache"] == "hit"
    assert "已领完" not in page.content.decode()

    claim(offer, quicker)
    fresh = client.get(offer.url).content.decode()
    assert "已领完" in fresh


def test_a_place_freed_on_the_waiting_list_moves_the_member_up(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    claim(offer, MemberFactory(tier=tiers["gold"]))  # sold out
    first, second = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["gold"])
    services.offer_waitlist_join(offer=offer, member=first)
    services.offer_waitlist_join(offer=offer, member=second)
    client = signed_in(second)
    page = open_twice(client, offer.url)
    assert page["X-Page-Cache"] == "hit"
    assert "候补名单第 2 位" in page.content.decode()

    services.offer_waitlist_leave(offer=offer, member=first)
    assert "候补名单第 1 位" in client.get(offer.url).content.decode()


def test_the_members_own_points_decide_the_claim_box_at_once(tiers):
    offer = make_offer(tiers["gold"], codes=2, points_price=100)
    gold = MemberFactory(tier=tiers["gold"])
    client = signed_in(gold)
    assert "可用积分不足" in open_twice(client, offer.url).content.decode()

    points_adjust(member=gold, amount=100, reason="测试", actor=StaffFactory(),
                  idempotency_key="t1")  # fmt: skip
    assert "可用积分不足" not in client.get(offer.url).content.decode()


def test_a_downgrade_or_a_suspension_reaches_the_item_page_on_the_next_request(tiers):
    offer = make_offer(tiers["gold"], codes=2)
    gold = MemberFactory(tier=tiers["gold"])
    client = signed_in(gold)
    marker = demo.secret_marker(offer.slug)
    full = open_twice(client, offer.url)
    assert full["X-Page-Cache"] == "hit"
    assert marker in full.content.decode()

    Member.objects.filter(pk=gold.pk).update(tier=tiers["silver"])
    downgraded = client.get(offer.url)
    assert downgraded.get("X-Page-Cache") is None
    assert marker not in downgraded.content.decode()

    Member.objects.filter(pk=gold.pk).update(tier=tiers["gold"])
    assert marker in open_twice(client, offer.url).content.decode()
    gold.refresh_from_db()
    member_services.member_suspend(member=gold, actor=StaffFactory(), reason="测试")
    suspended = client.get(offer.url)
    assert marker not in suspended.content.decode()


def test_a_copy_is_never_another_members(tiers):
    offer = make_offer(tiers["gold"], codes=3)
    first, other = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["gold"])
    first_client = signed_in(first)
    open_twice(first_client, offer.url)
    code = claim(offer, first).pool_code.code
    assert code in open_twice(first_client, offer.url).content.decode()
    theirs = open_twice(signed_in(other), offer.url)
    assert theirs["X-Page-Cache"] == "hit"
    assert code not in theirs.content.decode()


def test_from_the_second_visit_the_copy_is_found_before_routing(tiers):
    """The first visit teaches the web process where the member's copies live; later visits
    are answered before Wagtail routes the request or runs its serving hooks."""
    from wagtail import hooks

    post = publish_item(PostPage(title="金卡专享：路由之前", slug="before-routing",
                                 access="min_tier", min_tier=tiers["gold"]))  # fmt: skip
    client = signed_in(MemberFactory(tier=tiers["gold"]))
    client.get("/community/")  # the browser has its CSRF cookie before it opens the item
    served = []
    with hooks.register_temporarily("before_serve_page", lambda *args: served.append(1)):
        first, second, third = (client.get(post.url) for _ in range(3))
        assert first.get("X-Page-Cache") is None
        assert second["X-Page-Cache"] == third["X-Page-Cache"] == "hit"
        assert "路由之前" in third.content.decode()
    assert len(served) == 1


def test_a_kept_item_page_reads_its_versions_with_the_session_in_one_query(
    tiers, django_assert_num_queries
):
    offer = make_offer(tiers["gold"], codes=3)
    client = signed_in(MemberFactory(tier=tiers["gold"]))
    open_twice(client, offer.url)
    with django_assert_num_queries(1):
        kept = client.get(offer.url)
    assert kept["X-Page-Cache"] == "hit"


def test_a_version_read_for_another_member_is_never_used(tiers, settings):
    """The member read along with the session is a guess (the one the session key was last
    read with); a page reads its versions again unless the guess was the member signed in."""
    from members import sessions

    offer = make_offer(tiers["gold"], codes=2, points_price=100)
    reader, other = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["gold"])
    client = signed_in(reader)
    assert "可用积分不足" in open_twice(client, offer.url).content.decode()

    # Only the reader's account row moves: no notice, nothing shared (a bare update, so that
    # nothing but the page's versions can tell the copy is stale).
    PointsAccount.objects.update_or_create(member=reader, defaults={"balance": 100})
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    sessions._member_of_session[session_key] = other.pk  # the other's points did not move
    fresh = client.get(offer.url)
    assert fresh.get("X-Page-Cache") is None
    assert "可用积分不足" not in fresh.content.decode()
