"""In a real browser: typing "@" in a comment box offers members who may read the item, and
choosing one writes the handle; the posted comment links the mention and notifies the member."""

from __future__ import annotations

import pytest

from community import demo
from community.models import CommunityHome
from core.models import Notification
from tests.browser.conftest import PHONE
from tests.community.test_interaction import publish_item
from tests.factories import MemberFactory, standard_tiers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_choosing_a_suggestion_mentions_the_member(page_for, asgi_server):
    tiers = standard_tiers()
    demo.load_structure()
    post = publish_item(CommunityHome.objects.get(), min_tier=tiers["gold"])
    writer = MemberFactory(tier=tiers["gold"])
    friend = MemberFactory(tier=tiers["platinum"], weibo_screen_name="Lily爱看秀",
                           display_name="莉莉")  # fmt: skip
    MemberFactory(tier=tiers["silver"], weibo_screen_name="Lily银卡")  # may not read the item

    page = page_for(writer.user, viewport=PHONE)
    page.goto(f"{asgi_server}{post.url}")
    box = page.locator("#comment-body")
    box.click()
    box.press_sequentially("一起去吗 @li", delay=30)
    options = page.locator("#comment-body-mentions [role=option]")
    options.first.wait_for()
    assert [text.split() for text in options.all_inner_texts()] == [["@Lily爱看秀", "莉莉"]]
    box.press("Enter")  # takes the highlighted suggestion, does not submit
    assert box.input_value() == "一起去吗 @Lily爱看秀 "
    assert page.locator("#comment-body-mentions").is_hidden()

    box.press_sequentially("周六见")
    page.get_by_role("button", name="发表评论").click()
    link = page.locator(".comment-body a.mention")
    link.wait_for()
    assert link.inner_text() == "@Lily爱看秀"
    assert Notification.objects.filter(user=friend.user, kind="comment_mention").count() == 1
