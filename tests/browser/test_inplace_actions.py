"""In-place actions on a phone, with JavaScript (htmx: the page stays, the part changes) and
without it (the same forms post and come back to the page, as before)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from community.models import GatedPage
from core.notifications import notify
from loyalty.models import Reward
from members.models import Member
from tests.browser.conftest import SITE, load_club, run_off_the_event_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOLD_UID = "1001000012"  # 金卡会员王先生


@pytest.fixture
def gold(transactional_db):
    load_club(loyalty=True)
    member = Member.objects.select_related("user").get(weibo_uid=GOLD_UID)
    for title in ("积分到账", "活动提醒"):
        run_off_the_event_loop(notify, user_id=member.user_id, kind="points_awarded", title=title)
    return member


def same_page(page) -> None:
    page.evaluate("window.stillTheSamePage = true")


def assert_same_page(page) -> None:
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"


def test_actions_update_the_page_in_place(page_for, gold):
    page = page_for(gold.user)
    post = GatedPage.objects.get(slug="behind-the-collection")
    page.goto(f"{SITE}{post.url}")
    same_page(page)

    like = page.get_by_test_id("item-like")
    like.click()
    expect(page.get_by_test_id("item-like")).to_have_attribute("aria-pressed", "true")
    form = page.get_by_test_id("comment-form")
    form.locator("textarea").fill("手稿太好看了！")
    form.get_by_role("button", name="发表评论").click()
    expect(page.locator(".messages")).to_contain_text("评论已发布。")
    expect(page.get_by_test_id("comments")).to_contain_text("手稿太好看了！")
    reply = page.locator("details.reply-form").first
    reply.locator("summary").click()
    reply.locator("textarea").fill("同感")
    reply.get_by_role("button", name="回复").click()
    expect(page.get_by_test_id("comments").locator(".reply")).to_contain_text(["同感"])
    assert_same_page(page)

    offer = GatedPage.objects.get(slug="silver-coupon")
    page.goto(f"{SITE}{offer.url}")
    same_page(page)
    page.get_by_test_id("claim").get_by_role("button", name="立即领取").click()
    expect(page.get_by_test_id("my-codes").locator(".coupon-code")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("领取成功")
    assert_same_page(page)

    trip = GatedPage.objects.get(slug="shanghai-tasting")
    page.goto(f"{SITE}{trip.url}")
    same_page(page)
    page.get_by_test_id("registration").get_by_role("button", name="立即报名").click()
    expect(page.get_by_test_id("registration-state")).to_contain_text("您已报名")
    assert_same_page(page)

    # A refusal: the reward went off the shelf while the member was looking at it.
    donation = Reward.objects.get(name="为山区孩子捐一本书")
    page.goto(f"{SITE}/points/rewards/{donation.pk}/")
    same_page(page)
    Reward.objects.filter(pk=donation.pk).update(live=False)
    page.get_by_role("button", name="确认用").click()
    expect(page.locator(".messages .message.error")).to_be_visible()
    expect(page.get_by_role("button", name="确认用")).to_be_enabled()  # nothing changed
    Reward.objects.filter(pk=donation.pk).update(live=True)
    page.get_by_role("button", name="确认用").click()
    expect(page.get_by_test_id("redeemed")).to_contain_text("兑换成功")
    assert_same_page(page)

    page.goto(f"{SITE}/notifications/")
    same_page(page)
    badge = page.locator("#notification-badge")
    before = int(badge.get_attribute("data-count"))
    page.get_by_test_id("notification-list").get_by_role("button", name="标为已读").first.click()
    expect(badge).to_have_attribute("data-count", str(before - 1))
    page.locator("#notification-settings input[value=points_awarded]").check()
    page.locator("#notification-settings").get_by_role("button", name="保存").click()
    expect(page.locator(".messages")).to_contain_text("通知设置已保存。")
    assert_same_page(page)


def test_actions_work_without_javascript(page_for, gold):
    page = page_for(gold.user, java_script_enabled=False)
    post = GatedPage.objects.get(slug="behind-the-collection")
    page.goto(f"{SITE}{post.url}")
    with page.expect_navigation():
        page.get_by_test_id("item-like").click()
    expect(page.get_by_test_id("item-like")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("comment-form").locator("textarea").fill("没有脚本也能评论")
    with page.expect_navigation():
        page.get_by_test_id("comment-form").get_by_role("button", name="发表评论").click()
    expect(page.get_by_test_id("comments")).to_contain_text("没有脚本也能评论")

    offer = GatedPage.objects.get(slug="silver-coupon")
    page.goto(f"{SITE}{offer.url}")
    with page.expect_navigation():
        page.get_by_test_id("claim").get_by_role("button", name="立即领取").click()
    expect(page.get_by_test_id("my-codes").locator(".coupon-code")).to_be_visible()

    trip = GatedPage.objects.get(slug="shanghai-tasting")
    page.goto(f"{SITE}{trip.url}")
    with page.expect_navigation():
        page.get_by_test_id("registration").get_by_role("button", name="立即报名").click()
    expect(page.get_by_test_id("registration-state")).to_contain_text("您已报名")

    donation = Reward.objects.get(name="为山区孩子捐一本书")
    page.goto(f"{SITE}/points/rewards/{donation.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="确认用").click()
    expect(page.get_by_test_id("redemptions")).to_contain_text(donation.name)

    page.goto(f"{SITE}/notifications/")
    with page.expect_navigation():
        page.get_by_role("button", name="全部标为已读").click()
    expect(page.locator("#notification-badge")).to_be_hidden()
    page.locator("#notification-settings input[value=points_awarded]").check()
    with page.expect_navigation():
        page.locator("#notification-settings").get_by_role("button", name="保存").click()
    expect(page.locator(".messages")).to_contain_text("通知设置已保存。")
