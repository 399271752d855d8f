"""Screenshots of key screens for the README, taken from the demo club in a real browser.

They are tracked files, so normal runs leave them alone: set ``UPDATE_SCREENSHOTS=1`` to take
them again (``UPDATE_SCREENSHOTS=1 ./test tests/browser/test_docs_screenshots.py``).
"""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from PIL import Image as PILImage
from playwright.sync_api import expect

from community.models import GatedPage, OfferPage
from members.demo import DEMO_STAFF_USERNAME
from members.models import Member
from tests.browser.conftest import DESKTOP, SITE, load_club, waiting_list_and_draw
from tests.conftest import BASE_DIR

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("UPDATE_SCREENSHOTS") != "1",
        reason="documentation screenshots are taken only with UPDATE_SCREENSHOTS=1",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
]

SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
MAX_BYTES = 300 * 1024
GOLD_UID = "1001000012"  # 金卡会员王先生


# Images in view have arrived (covers are lazy-loaded, so the load event does not wait).
IMAGES_IN_VIEW_LOADED = """() => [...document.images]
    .filter(image => {
        const box = image.getBoundingClientRect();
        return box.bottom > 0 && box.top < innerHeight;
    })
    .every(image => image.complete && image.naturalWidth > 0)"""


def save(page, name: str) -> None:
    page.wait_for_function(IMAGES_IN_VIEW_LOADED)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    if path.stat().st_size >= MAX_BYTES:  # photos and gradients: a 256-colour palette will do
        with PILImage.open(path) as shot:
            quantised = shot.convert("RGB").quantize(colors=256, dither=PILImage.Dither.NONE)
        quantised.save(path, optimize=True)
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is too large for the README"


def show(page, test_id: str) -> None:
    """Scroll the box up to just below what stays on top: the site header and the message."""
    page.get_by_test_id(test_id).evaluate(
        """box => {
            const above = [".site-header", ".messages-region"]
                .map(selector => document.querySelector(selector))
                .reduce((height, el) => height + (el ? el.getBoundingClientRect().height : 0), 0);
            scrollTo(0, box.getBoundingClientRect().top + scrollY - above - 12);
        }"""
    )


def test_docs_screenshots(page_for):
    load_club(loyalty=True)
    gold = Member.objects.select_related("user").get(weibo_uid=GOLD_UID)
    staff = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
    teaser_item = GatedPage.objects.get(slug="milan-trip")
    post = GatedPage.objects.get(slug="milan-backstage")
    no_grey = []

    member = page_for(gold.user, device_scale_factor=2)
    member.goto(f"{SITE}/community/")
    expect(member.locator("article.item-card").first).to_be_visible()
    save(member, "community-feed")
    no_grey.append(member.locator("article.item-card img").first.evaluate(COLOURS_IN_IMAGE))

    member.goto(f"{SITE}{post.url}")
    expect(member.locator("article img.cover")).to_be_visible()
    save(member, "item")

    member.goto(f"{SITE}/points/")
    expect(member.get_by_test_id("available")).to_be_visible()
    save(member, "points")

    member.goto(f"{SITE}/points/rewards/")
    expect(member.locator("article.reward").first).to_be_visible()
    save(member, "rewards")

    member.goto(f"{SITE}/notifications/")
    expect(member.get_by_test_id("notification-list").locator("li").first).to_be_visible()
    save(member, "notifications")

    member.goto(f"{SITE}/share/new/?kind=tier")
    expect(member.get_by_test_id("share-confirm")).to_be_visible()
    save(member, "share-confirm")

    member.goto(f"{SITE}/members/me/")
    member.get_by_test_id("card-link").click()
    member.wait_for_load_state("networkidle")
    save(member, "card")

    # The waiting list of a sold-out offer and an open draw, each after the member's action.
    items = waiting_list_and_draw()
    member.goto(f"{SITE}{OfferPage.objects.get(pk=items['offer']).url}")
    member.get_by_test_id("claim").get_by_role("button", name="加入候补").click()
    expect(member.get_by_test_id("waitlist-state")).to_contain_text("第 2 位")
    show(member, "claim")
    save(member, "waiting-list")

    member.goto(f"{SITE}{OfferPage.objects.get(pk=items['draw']).url}")
    member.get_by_test_id("draw").get_by_role("button", name="参加抽签").click()
    expect(member.get_by_test_id("draw-entry")).to_be_visible()
    show(member, "claim")
    save(member, "draw")

    outsider = page_for(None, device_scale_factor=2)
    outsider.goto(f"{SITE}/")
    save(outsider, "landing")
    outsider.goto(f"{SITE}{teaser_item.url}")
    expect(outsider.locator("img.cover")).to_be_visible()
    no_grey.append(outsider.locator("img.cover").evaluate(COLOURS_IN_IMAGE))
    outsider.get_by_test_id("paywall").scroll_into_view_if_needed()
    save(outsider, "item-teaser")

    moderator = page_for(staff, viewport=DESKTOP)
    moderator.goto(f"{SITE}/admin/community/moderation/")
    expect(moderator.get_by_test_id("moderation-queue")).to_be_visible()
    save(moderator, "admin-moderation-queue")

    # No grey boxes: every cover shown is a picture with many colours, not one flat fill.
    assert all(colours > 50 for colours in no_grey), no_grey


# How many distinct colours (quantised) an image shows: a flat placeholder has one.
COLOURS_IN_IMAGE = """image => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 36;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0, 64, 36);
    const data = context.getImageData(0, 0, 64, 36).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) {
        seen.add((data[i] >> 3) + "," + (data[i + 1] >> 3) + "," + (data[i + 2] >> 3));
    }
    return seen.size;
}"""
