"""The member feed: order, locked cards, pagination, and a query count that does not grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from community import demo
from community.models import CommunityHome, PostPage
from core import pagecache
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db


def add_posts(home, count: int, tiers, start: int = 0) -> None:
    for index in range(start, start + count):
        post = PostPage(
            title=f"文章 {index}", slug=f"post-{index}", summary=f"摘要 {index}",
            access="min_tier", min_tier=tiers["silver" if index % 2 else "platinum"],
            body=[("paragraph", f"<p>开头 {index}</p>"), ("paywall", None),
                  ("paragraph", f"<p>机密-post-{index}</p>")],
        )  # fmt: skip
        home.add_child(instance=post)
        post.save_revision().publish()


def feed_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/community/")
    assert response.status_code == 200
    return len(queries)


def test_feed_query_count_does_not_grow_with_items(client):
    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    member = MemberFactory(tier=tiers["gold"])
    client.force_login(member.user)

    def cold_and_warm() -> tuple[int, int]:
        pagecache._bump_now()  # as after any publish: the feed is rendered again
        return feed_queries(client), feed_queries(client)

    add_posts(home, 5, tiers)
    feed_queries(client)  # warm up: the session's first request does one-off work
    few = cold_and_warm()
    add_posts(home, 40, tiers, start=5)
    many = cold_and_warm()
    assert many == few, (few, many)
    assert many[1] <= 5, many  # a kept feed costs only the member's own reads


def test_feed_shows_locked_cards_for_higher_tiers_and_paginates(client):
    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    add_posts(home, 25, tiers)
    member = MemberFactory(tier=tiers["gold"])
    client.force_login(member.user)
    first = client.get("/community/").content.decode()
    assert "文章 24" in first and "文章 4" not in first  # newest first, 20 per page
    assert "白金卡及以上会员专享" in first  # platinum items appear as locked teasers
    assert "机密-post" not in first
    second = client.get("/community/?page=2").content.decode()
    assert "文章 4" in second and "文章 0" in second
