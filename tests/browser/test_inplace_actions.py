"""In-place actions on a phone, with JavaScript (htmx: the page stays, the part changes) and
without it (the same forms post and come back to the page, as before)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from community.models import (
    ActivityPage,
    DrawEntry,
    GatedPage,
    OfferClaim,
    OfferPage,
    OfferWaitlistEntry,
    Registration,
)
from community.participation import services
from core.notifications import notify
from loyalty.models import Reward
from members.models import Member
from tests.browser.conftest import (
    PHONE,
    SITE,
    load_club,
    run_off_the_event_loop,
    waiting_list_and_draw,
)

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


# --- Waiting lists and draws, on a 390×844 phone ---------------------------------------------


def _open_entry(offer_id: int, member: Member) -> OfferWaitlistEntry | None:
    return OfferWaitlistEntry.objects.filter(
        offer_id=offer_id, member=member, state__in=["waiting", "held"]
    ).first()


def _free_a_unit_for_the_waiting_list(items: dict) -> None:
    """Staff add two codes: the member ahead and then ours are each held one."""
    offer = OfferPage.objects.get(pk=items["offer"])
    run_off_the_event_loop(
        services.offer_codes_add, offer=offer, codes=["SCARF-0002", "SCARF-0003"], actor=None
    )


def _free_the_seat(items: dict) -> None:
    """The member in the only seat cancels: it is held for the first member waiting."""
    registration = Registration.objects.get(
        activity_id=items["activity"], member_id=items["registered"]
    )
    run_off_the_event_loop(
        services.registration_cancel, registration=registration, member=registration.member
    )


def test_waiting_list_and_draw_in_place_on_a_phone(page_for, gold):
    items = waiting_list_and_draw()
    page = page_for(gold.user, viewport=PHONE)
    offer = OfferPage.objects.get(pk=items["offer"])

    # A sold-out offer: join its waiting list, behind the member already on it; leave; rejoin.
    page.goto(f"{SITE}{offer.url}")
    same_page(page)
    claim = page.get_by_test_id("claim")
    expect(claim.locator(".claim-closed")).to_have_text("已领完。")
    claim.get_by_role("button", name="加入候补").click()
    expect(page.locator(".messages")).to_contain_text("已加入候补名单")
    expect(claim.get_by_test_id("waitlist-state")).to_contain_text("您在候补名单第 2 位")
    expect(claim.get_by_role("button", name="加入候补")).to_have_count(0)
    assert _open_entry(offer.pk, gold).state == "waiting"
    claim.get_by_role("button", name="退出候补").click()
    expect(page.locator(".messages")).to_contain_text("已退出候补名单。")
    expect(claim.get_by_test_id("waitlist-state")).to_have_count(0)
    expect(claim.get_by_role("button", name="加入候补")).to_be_enabled()
    assert _open_entry(offer.pk, gold) is None
    claim.get_by_role("button", name="加入候补").click()
    expect(claim.get_by_test_id("waitlist-state")).to_contain_text("您在候补名单第 2 位")
    assert_same_page(page)

    # Stock comes back: a unit is held for the member, who claims it in place.
    _free_a_unit_for_the_waiting_list(items)
    page.reload()
    same_page(page)
    claim = page.get_by_test_id("claim")
    expect(claim.get_by_test_id("waitlist-state")).to_contain_text("已为您保留一份")
    expect(claim.get_by_role("button", name="放弃保留")).to_be_visible()
    claim.get_by_role("button", name="立即领取").click()
    expect(page.locator(".messages")).to_contain_text("领取成功")
    expect(claim.get_by_test_id("my-codes").locator(".coupon-code")).to_have_text(
        OfferClaim.objects.get(offer=offer, member=gold).code
    )
    expect(claim.get_by_test_id("waitlist-state")).to_have_count(0)
    assert OfferWaitlistEntry.objects.get(offer=offer, member=gold, state="claimed")
    assert_same_page(page)

    # A full activity: wait for a seat, then confirm the seat held for the member.
    activity = ActivityPage.objects.get(pk=items["activity"])
    page.goto(f"{SITE}{activity.url}")
    same_page(page)
    box = page.get_by_test_id("registration")
    box.get_by_role("button", name="加入候补").click()
    expect(page.locator(".messages")).to_contain_text("名额已满，您已进入候补名单")
    expect(box.get_by_test_id("registration-state")).to_contain_text("您在候补名单第 1 位")
    expect(box.get_by_role("button", name="退出候补")).to_be_visible()
    assert Registration.objects.get(activity=activity, member=gold).state == "waitlisted"
    assert_same_page(page)
    _free_the_seat(items)
    page.reload()
    same_page(page)
    box = page.get_by_test_id("registration")
    expect(box.get_by_test_id("registration-state")).to_contain_text("已为您保留一个名额")
    box.get_by_role("button", name="确认报名").click()
    expect(page.locator(".messages")).to_contain_text("报名成功，名额已为您确认。")
    expect(box.get_by_test_id("registration-state")).to_contain_text("您已报名")
    expect(box.get_by_role("button", name="确认报名")).to_have_count(0)
    assert Registration.objects.get(activity=activity, member=gold).state == "registered"
    assert_same_page(page)

    # A draw: enter it, see the entry id, withdraw.
    tickets = OfferPage.objects.get(pk=items["draw"])
    page.goto(f"{SITE}{tickets.url}")
    same_page(page)
    draw = page.get_by_test_id("draw")
    expect(draw).to_contain_text("已有 2 人参加")
    expect(page.get_by_test_id("claim").locator(".claim-closed")).to_contain_text("抽签")
    draw.get_by_role("button", name="参加抽签").click()
    expect(draw.get_by_test_id("draw-entry")).to_be_visible()
    entry = DrawEntry.objects.get(draw__item_id=tickets.pk, member=gold)
    expect(page.locator(".messages")).to_contain_text(f"您的报名编号是 {entry.public_id}")
    expect(draw.get_by_test_id("draw-entry")).to_contain_text(entry.public_id)
    expect(draw).to_contain_text("已有 3 人参加")
    expect(draw.get_by_role("button", name="参加抽签")).to_have_count(0)
    draw.get_by_role("button", name="退出抽签").click()
    expect(page.locator(".messages")).to_contain_text("已退出抽签。")
    expect(draw.get_by_test_id("draw-entry")).to_have_count(0)
    expect(draw).to_contain_text("已有 2 人参加")
    expect(draw.get_by_role("button", name="参加抽签")).to_be_enabled()
    entry.refresh_from_db()
    assert entry.withdrawn_at is not None
    assert_same_page(page)


def test_waiting_list_and_draw_without_javascript_on_a_phone(page_for, gold):
    items = waiting_list_and_draw()
    page = page_for(gold.user, viewport=PHONE, java_script_enabled=False)
    offer = OfferPage.objects.get(pk=items["offer"])

    page.goto(f"{SITE}{offer.url}")
    with page.expect_navigation():
        page.get_by_test_id("claim").get_by_role("button", name="加入候补").click()
    assert page.url.endswith(f"{offer.url}#claim")
    expect(page.locator(".messages")).to_contain_text("已加入候补名单")
    expect(page.get_by_test_id("waitlist-state")).to_contain_text("您在候补名单第 2 位")
    assert _open_entry(offer.pk, gold).state == "waiting"
    with page.expect_navigation():
        page.get_by_test_id("claim").get_by_role("button", name="退出候补").click()
    expect(page.locator(".messages")).to_contain_text("已退出候补名单。")
    expect(page.get_by_test_id("waitlist-state")).to_have_count(0)
    assert _open_entry(offer.pk, gold) is None
    with page.expect_navigation():
        page.get_by_test_id("claim").get_by_role("button", name="加入候补").click()
    expect(page.get_by_test_id("waitlist-state")).to_contain_text("您在候补名单第 2 位")

    # A unit is held for the member, who gives it back.
    _free_a_unit_for_the_waiting_list(items)
    page.reload()
    expect(page.get_by_test_id("waitlist-state")).to_contain_text("已为您保留一份")
    with page.expect_navigation():
        page.get_by_test_id("claim").get_by_role("button", name="放弃保留").click()
    expect(page.locator(".messages")).to_contain_text("已退出候补名单。")
    expect(page.get_by_test_id("waitlist-state")).to_have_count(0)
    entries = OfferWaitlistEntry.objects.filter(offer=offer, member=gold)
    assert sorted(entries.values_list("state", flat=True)) == ["left", "left"]  # both times
    assert not OfferClaim.objects.filter(offer=offer, member=gold).exists()

    activity = ActivityPage.objects.get(pk=items["activity"])
    page.goto(f"{SITE}{activity.url}")
    with page.expect_navigation():
        page.get_by_test_id("registration").get_by_role("button", name="加入候补").click()
    assert page.url.endswith(f"{activity.url}#registration")
    expect(page.get_by_test_id("registration-state")).to_contain_text("您在候补名单第 1 位")
    _free_the_seat(items)
    page.reload()
    expect(page.get_by_test_id("registration-state")).to_contain_text("已为您保留一个名额")
    with page.expect_navigation():
        page.get_by_test_id("registration").get_by_role("button", name="放弃名额").click()
    expect(page.locator(".messages")).to_contain_text("已取消报名。")
    expect(page.get_by_test_id("registration-state")).to_have_count(0)
    assert Registration.objects.get(activity=activity, member=gold).state == "cancelled"

    tickets = OfferPage.objects.get(pk=items["draw"])
    page.goto(f"{SITE}{tickets.url}")
    with page.expect_navigation():
        page.get_by_test_id("draw").get_by_role("button", name="参加抽签").click()
    assert page.url.endswith(f"{tickets.url}#draw")
    entry = DrawEntry.objects.get(draw__item_id=tickets.pk, member=gold)
    expect(page.locator(".messages")).to_contain_text(f"您的报名编号是 {entry.public_id}")
    expect(page.get_by_test_id("draw-entry")).to_contain_text(entry.public_id)
    expect(page.get_by_test_id("draw")).to_contain_text("已有 3 人参加")
    with page.expect_navigation():
        page.get_by_test_id("draw").get_by_role("button", name="退出抽签").click()
    expect(page.locator(".messages")).to_contain_text("已退出抽签。")
    expect(page.get_by_test_id("draw-entry")).to_have_count(0)
    expect(page.get_by_test_id("draw").get_by_role("button", name="参加抽签")).to_be_visible()
    entry.refresh_from_db()
    assert entry.withdrawn_at is not None
