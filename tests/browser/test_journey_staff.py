"""Marketing staff at work in the Wagtail admin, and what members then see.

Staff log in with username and password, publish an early-access offer for 白金卡 through the
page editor, approve a held comment with a reason, and adjust a member's points; the audit log
viewer shows that adjustment with the balance before and after. Members check each result on
their phones: the 白金卡 member reads the offer in full while the 金卡 member gets the teaser
with the opening time, until the window is over.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from community.models import CommunityHome, GatedPage, OfferPage
from community.models_interaction import Comment
from core import pagecache
from members.demo import DEMO_STAFF_PASSWORD, DEMO_STAFF_USERNAME
from members.models import Member, Tier
from tests.browser.conftest import DESKTOP, SITE, load_club, staff_login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLATINUM_UID = "1001000011"  # 白金会员陈女士
GOLD_UID = "1001000012"  # 金卡会员王先生
OFFER_TITLE = "白金抢先购：早春限定礼盒"
OFFER_SLUG = "spring-gift-box"
OFFER_BODY = "礼盒内含限量香氛与手写贺卡，凭统一券码到任意门店领取。"


@pytest.fixture
def club(transactional_db):
    load_club()
    members = Member.objects.select_related("user", "tier")
    return SimpleNamespace(
        platinum=members.get(weibo_uid=PLATINUM_UID),
        gold=members.get(weibo_uid=GOLD_UID),
        held=Comment.objects.select_related("page").get(state="held"),
    )


def publish_early_access_offer(page, *, until) -> OfferPage:
    """Create and publish the offer through the page editor, as a marketing editor would."""
    home = CommunityHome.objects.get()
    page.goto(f"{SITE}/admin/pages/{home.pk}/add_subpage/")
    page.get_by_role("link", name="专属优惠", exact=True).click()

    page.locator("#id_title").fill(OFFER_TITLE)
    page.locator("#id_access").select_option(label="所有会员")
    page.locator("#id_early_access_tier").select_option(label="白金卡")
    page.locator("#id_early_access_until").fill(
        timezone.localtime(until).strftime("%Y-%m-%d %H:%M")
    )
    page.locator("#id_early_access_until").press("Tab")
    page.locator("#id_summary").fill("白金卡会员抢先 48 小时，之后向所有会员开放。")
    page.locator("#id_code_mode").select_option(value=OfferPage.CodeMode.SHARED)
    page.locator("#id_shared_code").fill("SPRING2026")
    page.locator("#id_total_stock").fill("20")

    # The body: one paragraph block, written in the rich-text editor.
    page.locator(".c-sf-add-button").last.click()
    page.get_by_role("option", name="段落").click()
    page.locator("[contenteditable=true]").last.click()
    page.keyboard.type(OFFER_BODY)
    # The editor writes its content into the form a moment after typing; publish after that.
    page.wait_for_function(
        "text => [...document.querySelectorAll('input[type=hidden]')]"
        ".some(input => input.value.includes(text))",
        arg=OFFER_BODY,
    )

    page.get_by_role("tab", name="推荐").click()
    page.locator("#id_slug").fill(OFFER_SLUG)

    page.locator("footer .w-dropdown__toggle").click()
    page.locator("button[name=action-publish]").click()
    expect(page.locator(".messages")).to_contain_text(OFFER_TITLE)
    return OfferPage.objects.get(slug=OFFER_SLUG)


def test_staff_publish_moderate_and_adjust_points(page_for, club):
    staff = page_for(None, viewport=DESKTOP)
    platinum = page_for(club.platinum.user)
    gold = page_for(club.gold.user)
    staff_login(staff, username=DEMO_STAFF_USERNAME, password=DEMO_STAFF_PASSWORD)

    # An early-access offer for 白金卡, published in the page editor.
    until = (timezone.now() + timedelta(hours=48)).replace(second=0, microsecond=0)
    offer = publish_early_access_offer(staff, until=until)
    assert offer.live
    assert offer.early_access_tier == Tier.objects.get(code="platinum")
    assert offer.early_access_until == until

    platinum.goto(f"{SITE}{offer.url}")
    expect(platinum.locator("article.item .body")).to_contain_text(OFFER_BODY)
    expect(platinum.get_by_test_id("paywall")).to_have_count(0)

    gold.goto(f"{SITE}{offer.url}")
    paywall = gold.get_by_test_id("paywall")
    expect(paywall).to_contain_text("白金卡会员抢先看")
    opens = timezone.localtime(until)
    expect(paywall).to_contain_text(
        f"{opens.year}年{opens.month}月{opens.day}日 {opens:%H:%M} 起向您的等级开放。"
    )
    assert OFFER_BODY not in gold.content()

    # The window ends: the 金卡 member reads it in full. The clock is moved by rewriting the row,
    # which bypasses the page cache's invalidation; a kept page never outlives the real window
    # (tests/community/test_page_cache.py waits one out), so forget kept pages as it would.
    GatedPage.objects.filter(pk=offer.pk).update(
        early_access_until=timezone.now() - timedelta(minutes=1)
    )
    pagecache.bump()
    gold.reload()
    expect(gold.locator("article.item .body")).to_contain_text(OFFER_BODY)
    expect(gold.get_by_test_id("paywall")).to_have_count(0)

    # A comment held by a keyword: members do not see it until a moderator approves it.
    comment = club.held
    gold.goto(f"{SITE}{comment.page.url}")
    expect(gold.get_by_test_id("comments")).not_to_contain_text(comment.body)
    staff.goto(f"{SITE}/admin/community/moderation/")
    row = staff.locator(f"#queue-comment-{comment.pk}")
    row.locator(f"#reason-{comment.pk}").fill("询问代购信息，不是广告，予以通过")
    row.get_by_role("button", name="通过", exact=True).click()
    expect(staff.locator(".messages")).to_contain_text(f"已通过评论 #{comment.pk}")
    expect(staff.locator(f"#queue-comment-{comment.pk}")).to_have_count(0)
    gold.reload()
    expect(gold.get_by_test_id("comments")).to_contain_text(comment.body)

    # Points adjusted by hand, with a reason; the audit log shows before and after.
    staff.goto(f"{SITE}/admin/points/accounts/{club.gold.pk}/")
    balance = int(staff.get_by_test_id("balance").inner_text())
    reason = "线下活动签到漏记，补发积分"
    adjust = staff.locator("form[action$='/adjust/']")
    adjust.locator("[name=amount]").fill("500")
    adjust.locator("[name=reason]").fill(reason)
    adjust.get_by_role("button", name="提交调整").click()
    expect(staff.get_by_test_id("balance")).to_have_text(str(balance + 500))

    staff.goto(f"{SITE}/admin/audit/?action=points.adjusted")
    entry = staff.get_by_test_id("audit-log").locator("tbody tr", has_text=reason)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(DEMO_STAFF_USERNAME)
    expect(entry.locator("td").nth(4)).to_contain_text(f"'balance': {balance}")
    expect(entry.locator("td").nth(5)).to_contain_text(f"'balance': {balance + 500}")
