"""In-place actions: with ``HX-Request`` a member's action answers with the part of the page
that changed and the message; without it, the same POST redirects back as before."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from community.models import GatedPage, OfferClaim, Registration
from core.models import Notification
from core.notifications import notify
from loyalty.models import Reward
from members.models import Member
from tests.community.test_claims import claim, make_offer
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db

GOLD_UID = "1001000012"  # 金卡会员王先生
REGULAR_UID = "1001000014"  # 普通会员赵同学
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def gold(client):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    member = Member.objects.get(weibo_uid=GOLD_UID)
    client.force_login(member.user)
    return member


def text(response) -> str:
    return response.content.decode()


def assert_fragment(response) -> str:
    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html and "<main" not in html  # a part, not the page
    assert 'id="messages"' in html and 'hx-swap-oob="true"' in html
    return html


def test_like_answers_with_the_comments_section_or_a_redirect(client, gold):
    post = GatedPage.objects.get(slug="behind-the-collection")
    url = f"/interaction/items/{post.pk}/like/"
    html = assert_fragment(client.post(url, **HX))
    assert html.startswith('<section class="card comments" id="comments"')
    assert 'data-testid="item-like" aria-pressed="true"' in html
    plain = client.post(url)  # without JavaScript: as before
    assert plain.status_code == 302 and plain["Location"].endswith("#likes")
    assert 'aria-pressed="false"' in text(client.get(post.url))


def test_comment_and_reply_in_place(client, gold):
    post = GatedPage.objects.get(slug="behind-the-collection")
    url = f"/interaction/items/{post.pk}/comments/"
    html = assert_fragment(client.post(url, {"body": "手稿太好看了，期待成衣！"}, **HX))
    assert "手稿太好看了，期待成衣！" in html
    assert "评论已发布。" in html
    parent = re.search(r'id="comment-(\d+)"', html).group(1)
    reply = assert_fragment(client.post(url, {"body": "同感", "parent": parent}, **HX))
    assert "同感" in reply


def test_refused_comment_changes_nothing_and_says_why(client, gold):
    offer = GatedPage.objects.get(slug="silver-coupon")  # offers take no comments
    response = client.post(f"/interaction/items/{offer.pk}/comments/", {"body": "你好"}, **HX)
    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"
    assert 'class="message error"' in text(response)


def test_claim_and_a_refused_second_claim(client, gold):
    offer = GatedPage.objects.get(slug="silver-coupon").specific
    url = f"/community/offers/{offer.pk}/claim/"
    html = assert_fragment(client.post(url, {"key": "k1"}, **HX))
    code = OfferClaim.objects.get(offer=offer, member=gold).code
    assert html.startswith('<section class="card claim" id="claim"')
    assert code in html and "领取成功" in html
    again = assert_fragment(client.post(url, {"key": "k2"}, **HX))
    assert 'class="message error"' in again and code in again
    assert OfferClaim.objects.filter(offer=offer, member=gold).count() == 1


def test_register_in_place(client, gold):
    trip = GatedPage.objects.get(slug="milan-trip").specific
    html = assert_fragment(client.post(f"/community/activities/{trip.pk}/register/", **HX))
    assert "您已报名，名额已为您保留。" in html and "报名成功" in html
    assert Registration.objects.filter(activity=trip, member=gold).exists()


def test_a_part_the_viewer_may_not_see_is_not_rendered(client, gold):
    regular = Member.objects.get(weibo_uid=REGULAR_UID)
    client.force_login(regular.user)
    trip = GatedPage.objects.get(slug="milan-trip").specific  # 金卡 and above
    response = client.post(f"/community/activities/{trip.pk}/register/", **HX)
    assert "registration" not in text(response).split('id="messages"')[0]
    assert not Registration.objects.filter(activity=trip, member=regular).exists()


def test_redeem_in_place_and_a_refusal(client, gold):
    donation = Reward.objects.get(name="为山区孩子捐一本书")
    html = assert_fragment(client.post(f"/points/rewards/{donation.pk}/redeem/",
                                       {"idempotency_key": "r1"}, **HX))  # fmt: skip
    assert 'data-testid="redeemed"' in html and "兑换成功" in html
    platinum_only = Reward.objects.get(name="白金专属：品牌工坊之旅")
    refused = client.post(f"/points/rewards/{platinum_only.pk}/redeem/",
                          {"idempotency_key": "r2"}, **HX)  # fmt: skip
    assert refused["HX-Reswap"] == "none"
    assert 'class="message error"' in text(refused)
    plain = client.post(f"/points/rewards/{donation.pk}/redeem/", {"idempotency_key": "r3"})
    assert plain.status_code == 302


def test_mark_read_and_mute_in_place(client, gold):
    note = notify(user_id=gold.user_id, kind="points_awarded", title="积分到账")
    unread = Notification.objects.filter(user=gold.user, read_at__isnull=True).count()
    response = client.post("/notifications/read/", {"id": note.pk, "page": "1"}, **HX)
    html = assert_fragment(response)
    assert html.startswith('<div id="notification-list"')
    assert json.loads(response["HX-Trigger"]) == {"club:unread": unread - 1}
    muted = assert_fragment(
        client.post("/notifications/preferences/", {"muted": ["points_awarded"]}, **HX)
    )
    assert 'value="points_awarded" checked' in muted and "通知设置已保存。" in muted
    assert client.post("/notifications/read/", {"all": "1"}).status_code == 302


def test_member_pages_carry_the_csrf_header_for_htmx(client, gold):
    html = text(client.get("/community/"))
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/vendor/htmx-2.0.11.min." in html


def test_joining_a_waiting_list_in_place(client, tiers_for_waitlist):
    offer = make_offer(tiers_for_waitlist["gold"], codes=1)
    first, second = (MemberFactory(tier=tiers_for_waitlist["gold"]) for _ in range(2))
    claim(offer, first)
    client.force_login(second.user)
    html = assert_fragment(client.post(f"/community/offers/{offer.pk}/waitlist/", **HX))
    assert html.startswith('<section class="card claim" id="claim"')
    assert "您在候补名单第 1 位" in html and "退出候补" in html


@pytest.fixture
def tiers_for_waitlist():
    return standard_tiers()
