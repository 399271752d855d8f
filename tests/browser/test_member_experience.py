"""The member's phone: the tab bar, every member page checked by axe-core and weighed.

axe-core is vendored from the npm registry (``tests/browser/vendor/axe-core-<version>.min.js``,
taken from the ``axe-core`` package's ``axe.min.js``, licence header intact) and injected
into each page; a page passes with no serious or critical violation. The weight of a page is
what its first load transferred, images aside: the document and every script, style sheet and
fetch Chromium's resource timing reports, as encoded on the wire.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from community.models import ActivityPage, GatedPage, OfferPage
from core.models import Notification
from core.notifications import notify
from loyalty.models import Reward
from members.demo import DEMO_STAFF_USERNAME
from members.models import Member
from tests.browser.conftest import DESKTOP, PHONE, SITE, load_club, run_off_the_event_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
GOLD_UID = "1001000012"  # 金卡会员王先生 of the demo club
PAGE_BUDGET = 150 * 1024

RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations
        .filter(v => v.impact === "serious" || v.impact === "critical")
        .map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""

# Bytes of the first load besides images: the navigation and every non-image resource.
PAGE_WEIGHT = """() => {
    const entries = [...performance.getEntriesByType("navigation"),
                     ...performance.getEntriesByType("resource")];
    const counted = entries.filter(e => e.initiatorType !== "img" && e.initiatorType !== "image"
        && !/\\.(png|jpe?g|webp|avif|gif|svg)(\\?|$)/.test(e.name) && !e.name.includes("/img/"));
    return {bytes: counted.reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize), 0),
            entries: counted.map(e => [e.name, e.transferSize || e.encodedBodySize])};
}"""


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def assert_accessible_and_light(page, url: str) -> int:
    """Open ``url`` afresh, check it with axe and weigh its first load; returns the bytes."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    weight = page.evaluate(PAGE_WEIGHT)
    assert weight["bytes"] <= PAGE_BUDGET, (url, weight)
    violations = axe_violations(page)
    assert violations == [], f"{url}:\n{json.dumps(violations, ensure_ascii=False, indent=1)}"
    return weight["bytes"]


@pytest.fixture
def club(transactional_db):
    load_club(loyalty=True)
    return Member.objects.select_related("user", "tier").get(weibo_uid=GOLD_UID)


def test_tab_bar_on_the_phone_and_top_bar_on_the_desktop(page_for, club):
    run_off_the_event_loop(
        notify, user_id=club.user_id, kind="points_awarded", title="欢迎", body="", link=""
    )
    page = page_for(club.user, viewport=PHONE)
    page.goto(f"{SITE}/community/")
    tabs = page.get_by_test_id("tab-bar")
    expect(tabs.get_by_role("link")).to_have_count(4)
    box = tabs.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(PHONE["height"], abs=1)  # at the bottom
    expect(tabs.locator("[aria-current=page]")).to_contain_text("社区")
    unread = Notification.objects.filter(user=club.user, read_at__isnull=True).count()
    expect(tabs.locator("[data-unread-badge]")).to_have_text(str(unread))
    expect(page.locator(".site-header .tier-badge")).to_have_text(club.tier.name)

    tabs.get_by_role("link", name="积分").click()
    page.wait_for_url(f"{SITE}/points/")
    expect(page.get_by_test_id("tab-bar").locator("[aria-current=page]")).to_contain_text("积分")
    page.get_by_test_id("tab-bar").get_by_role("link", name="活动").click()
    page.wait_for_url(f"{SITE}/community/my/activities/")
    page.get_by_test_id("tab-bar").get_by_role("link", name="我的").click()
    page.wait_for_url(f"{SITE}/members/me/")

    # 我的 → 设置: the language, and it sticks.
    page.get_by_test_id("settings-link").click()
    page.wait_for_url(f"{SITE}/members/me/settings/")
    with page.expect_navigation():
        page.get_by_test_id("language-choices").locator("a[data-language=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert Member.objects.get(pk=club.pk).language == "en"

    desktop = page_for(club.user, viewport=DESKTOP)
    desktop.goto(f"{SITE}/community/")
    box = desktop.get_by_test_id("tab-bar").bounding_box()
    assert box["y"] < 80  # a compact row in the top bar


def test_first_visit_follows_the_browsers_language(page_for, club):
    page = page_for(None, locale="en-US")
    page.goto(f"{SITE}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    chinese = page_for(None, locale="zh-CN")
    chinese.goto(f"{SITE}/")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")


def member_pages(member: Member) -> list[str]:
    offer = OfferPage.objects.get(slug="silver-coupon")
    activity = ActivityPage.objects.get(slug="milan-trip")
    post = GatedPage.objects.get(slug="milan-backstage")
    reward = Reward.objects.order_by("pk").first()
    pages = [
        "/community/", offer.url, activity.url, post.url, "/community/search/?q=米兰",
        "/community/my/offers/", "/community/my/activities/",
        "/points/", "/points/history/", "/points/expiry/", "/points/rewards/",
        "/points/redemptions/", "/notifications/", "/share/mine/",
        f"/share/new/?kind=item&ref={activity.pk}",
        "/members/me/", "/members/me/settings/", "/members/me/privacy/", "/members/card/",
    ]  # fmt: skip
    if reward is not None:
        pages.append(f"/points/rewards/{reward.pk}/")
    return pages


def test_every_member_page_is_accessible_and_light_on_a_phone(page_for, club):
    page = page_for(club.user, viewport=PHONE)
    weights = {url: assert_accessible_and_light(page, f"{SITE}{url}") for url in member_pages(club)}
    print("first-load bytes besides images:", weights)


def test_outsider_pages_are_accessible_and_light_on_a_phone(page_for, club):
    page = page_for(None, viewport=PHONE)
    teaser = GatedPage.objects.get(slug="milan-trip")
    for url in ("/", "/community/", teaser.url, "/members/login/"):
        assert_accessible_and_light(page, f"{SITE}{url}")


def test_club_staff_pages_have_no_serious_accessibility_violations(page_for, club):
    staff = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
    page = page_for(staff, viewport=PHONE)
    for url in ("/admin/community/moderation/", "/admin/points/redemptions/"):
        page.goto(f"{SITE}{url}")
        violations = axe_violations(page)
        assert violations == [], f"{url}:\n{json.dumps(violations, ensure_ascii=False, indent=1)}"
