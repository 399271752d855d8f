"""A 金卡 member takes part: claims an offer, registers for an activity, checks in at the door
with the QR code on their membership card, earns points by the rules, redeems a reward, and is
told live when staff send it out.

The member is on a phone; staff work in the admin on a desktop, in their own browser context.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from community.models import ActivityPage, OfferClaim, OfferPage
from core import crypto
from loyalty.models import EarningRule, Redemption, Reward, Trigger
from members.demo import DEMO_STAFF_USERNAME
from members.models import Member
from tests.browser.conftest import DESKTOP, SITE, load_club, open_live
from tests.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOLD_UID = "1001000012"  # 金卡会员王先生 of the demo club


@pytest.fixture
def club(transactional_db, weibo_sandbox):
    load_club()
    # The member's Weibo token, as their last login through Weibo left it (sharing needs it).
    token = requests.post(f"{weibo_sandbox}/_sandbox/tokens", json={"uid": GOLD_UID}, timeout=5)
    Member.objects.filter(weibo_uid=GOLD_UID).update(
        weibo_token_encrypted=crypto.encrypt(token.json()["access_token"]),
        weibo_token_state=Member.TokenState.VALID,
    )
    return SimpleNamespace(
        member=Member.objects.select_related("user", "tier").get(weibo_uid=GOLD_UID),
        staff=get_user_model().objects.get(username=DEMO_STAFF_USERNAME),
        offer=OfferPage.objects.get(slug="silver-coupon"),  # 银卡 and above, a code pool
        activity=ActivityPage.objects.get(slug="milan-trip"),  # 金卡 and above
    )


@pytest.fixture
def points_programme(club):
    """The earning rules of this journey (credited at once, not after a pending period) and a
    reward sent out by staff."""
    return SimpleNamespace(
        claimed=EarningRule.objects.create(
            name="领取优惠", trigger=Trigger.OFFER_CLAIMED, points=10, description="每次领取"
        ),
        attended=EarningRule.objects.create(
            name="参加活动",
            trigger=Trigger.ACTIVITY_ATTENDED,
            points=300,
            description="现场签到后到账",
        ),
        reward=Reward.objects.create(
            name="定制帆布袋",
            cost=200,
            fulfilment=Reward.Fulfilment.PHYSICAL,
            stock_total=5,
            description="俱乐部限定设计，数量有限。",
        ),
    )


def available_points(page) -> int:
    page.goto(f"{SITE}/points/")
    return int(page.get_by_test_id("available").locator("strong").inner_text())


def share_activity_to_weibo(page, activity: ActivityPage) -> None:
    """The journey's next step, once sharing to Weibo is in place: from the activity page the
    member opens the share form, sees the text, and confirms; the post then appears in the
    Weibo sandbox's timeline (``GET /_sandbox/posts``).

    Sharing posts with the member's own Weibo token (the fixture stores one, as a login through
    Weibo would).
    """
    page.goto(f"{SITE}{activity.url}")
    page.get_by_test_id("share-button").click()
    form = page.get_by_test_id("share-confirm")
    expect(form.locator("#share-text")).to_have_value(re.compile(re.escape(activity.title)))
    form.get_by_role("button", name="确认发布到微博").click()


def test_gold_member_takes_part_earns_redeems_and_is_told_live(
    page_for, club, points_programme, celery_worker_process, weibo_sandbox
):
    rules = points_programme
    member_page = page_for(club.member.user)  # phone
    staff_page = page_for(club.staff, viewport=DESKTOP)
    balance = available_points(member_page)

    # Claim an offer: the code is shown, and the claim rule credits its points.
    member_page.goto(f"{SITE}{club.offer.url}")
    member_page.get_by_test_id("claim").get_by_role("button", name="立即领取").click()
    expect(member_page.get_by_test_id("my-codes").locator(".coupon-code")).to_be_visible()
    code = OfferClaim.objects.get(offer=club.offer, member=club.member).code
    assert re.fullmatch(r"SILVER-COUPON-\d{4}", code)
    expect(member_page.get_by_test_id("my-codes").locator(".coupon-code")).to_have_text(code)
    assert available_points(member_page) == balance + rules.claimed.points
    balance += rules.claimed.points

    # Register for an activity.
    member_page.goto(f"{SITE}{club.activity.url}")
    registration = member_page.get_by_test_id("registration")
    registration.get_by_role("button", name="立即报名").click()
    expect(member_page.get_by_test_id("registration-state")).to_have_text(
        "您已报名，名额已为您保留。"
    )

    # On the day, the member shows the QR code on their membership card; staff at the door
    # type the digits under it on the scanner page (the camera path has its own journey).
    ActivityPage.objects.filter(pk=club.activity.pk).update(
        starts_at=timezone.now() - timedelta(minutes=10),
        ends_at=timezone.now() + timedelta(hours=2),
    )
    member_page.goto(f"{SITE}/members/card/")
    shown = member_page.get_by_test_id("card-code")
    expect(shown).to_have_text(re.compile(rf"{club.member.pk}-\d{{4}}-\d{{8}}"))
    staff_page.goto(f"{SITE}/community/checkin/{club.activity.pk}/")
    staff_page.locator("#checkin-card-code").fill(shown.inner_text())
    staff_page.get_by_role("button", name="签到", exact=True).click()
    expect(staff_page.get_by_test_id("scan-result")).to_contain_text("签到成功")
    member_page.reload()
    expect(member_page.get_by_test_id("card-activities")).to_contain_text("已签到")
    assert available_points(member_page) == balance + rules.attended.points
    balance += rules.attended.points

    # Redeem a reward: the balance goes down and the redemption is listed.
    member_page.goto(f"{SITE}/points/rewards/{rules.reward.pk}/")
    member_page.locator("input[name=shipping_name]").fill("王先生")
    member_page.locator("input[name=shipping_phone]").fill("13800000000")
    member_page.locator("[name=shipping_address]").fill("上海市静安区南京西路 1 号")
    member_page.get_by_role("button", name=f"确认用 {rules.reward.cost} 积分兑换").click()
    expect(member_page.get_by_test_id("redeemed")).to_be_visible()  # in place, no reload
    member_page.get_by_role("link", name="查看兑换记录").click()
    redemptions = member_page.get_by_test_id("redemptions")
    expect(redemptions).to_contain_text(rules.reward.name)
    expect(redemptions).to_contain_text(f"-{rules.reward.cost}")
    assert available_points(member_page) == balance - rules.reward.cost

    # Staff send the reward out; the member's open page is told without a reload.
    open_live(member_page, f"{SITE}/points/redemptions/")
    member_page.evaluate("window.stillTheSamePage = true")
    badge = member_page.locator("#notification-badge")
    unread = int(badge.get_attribute("data-count"))
    staff_page.goto(f"{SITE}/admin/points/redemptions/")
    redemption = Redemption.objects.get(reward=rules.reward)
    staff_page.locator(f"input[name=ids][value='{redemption.pk}']").check()
    staff_page.get_by_role("button", name="标记为已发放").click()
    expect(staff_page.locator(".messages")).to_be_visible()

    sent = f"兑换已发放：{rules.reward.name}"
    expect(member_page.locator(".toasts")).to_contain_text(sent)
    expect(badge).to_have_text(str(unread + 1))
    assert member_page.evaluate("window.stillTheSamePage") is True

    # The notification centre keeps it.
    member_page.locator(".notifications-link").click()
    expect(member_page.get_by_test_id("notification-list")).to_contain_text(sent)

    # Share the activity to Weibo: confirmed text and card, posted by the worker, told live.
    share_activity_to_weibo(member_page, club.activity)
    expect(member_page.get_by_test_id("shares")).to_contain_text(club.activity.title)
    posts = wait_until(
        lambda: requests.get(f"{weibo_sandbox}/_sandbox/posts?uid={GOLD_UID}", timeout=5).json(),
        30,
    )
    assert len(posts) == 1
    assert club.activity.title in posts[0]["text"] and "/s/" in posts[0]["text"]
    assert posts[0]["pic"]["content_type"] == "image/jpeg"
    member_page.reload()
    expect(member_page.get_by_test_id("share-state").first).to_have_text("已发布")
    expect(member_page.get_by_test_id("weibo-link")).to_be_visible()
    member_page.locator(".notifications-link").click()
    expect(member_page.get_by_test_id("notification-list")).to_contain_text("已分享到微博")
