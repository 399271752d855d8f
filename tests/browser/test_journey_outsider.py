"""An outsider follows a public link to an activity, logs in with Weibo and joins the club.

The whole way in a real browser: the public teaser (gated text never in the HTML), the Weibo
sandbox's authorize page, consent, the applicant's status page, an invitation code, then the
member's view: their tier's content in full and the next tier's teaser with the upgrade call
to action. Once in Simplified Chinese (the default) and once switched to English in the UI.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from community.demo import secret_marker
from community.models import ActivityPage, GatedPage
from members.models import Member
from tests.browser.conftest import (
    DESKTOP,
    SITE,
    authorize_at_weibo,
    load_club,
    switch_language,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NEWCOMER_UID = "1001000002"  # 小雨Rain in the Weibo sandbox: not a member yet
SHARER_UID = "1001000011"  # 白金会员陈女士, who shared the activity on Weibo
INVITATION = "WELCOME2026A"

TEXT = {
    "zh-hans": {
        "paywall": "会员专享内容",
        "join_with_weibo": "用微博登录加入",
        "login": "用微博登录",
        "consent": "同意并继续",
        "status": "您的入会状态",
        "applicant": "申请审核中",
        "join": "加入",
        "welcome": "欢迎加入俱乐部！",
        "registration": "活动报名",
        "upgrade": "升级到银卡即可阅读全文",
        "card_lock": "银卡及以上会员专享",
    },
    "en": {
        "paywall": "Members-only content",
        "join_with_weibo": "Join with Weibo",
        "login": "Sign in with Weibo",
        "consent": "Agree and continue",
        "status": "Your membership status",
        "applicant": "Application under review",
        "join": "Join",
        "welcome": "Welcome to the club!",
        "registration": "Activity registration",
        "upgrade": "Upgrade to 银卡 to read it all",
        "card_lock": "For 银卡 members and above",
    },
}


def outsider_start_url(activity: ActivityPage) -> str:
    """Where the outsider's journey starts: the tracked link a 白金卡 member shared on Weibo."""
    from django.utils import timezone

    from share.models import Share
    from share.services import link_token, share_link

    sharer = Member.objects.get(weibo_uid=SHARER_UID)
    token = link_token(member=sharer, subject_key=f"item:{activity.pk}")
    Share.objects.create(
        member=sharer, kind=Share.Kind.ITEM, item=activity, subject_key=f"item:{activity.pk}",
        subject_title=activity.title, text=f"{activity.title} {share_link(token)}", token=token,
        link=share_link(token), rip="203.0.113.8", confirmation_key="journey",
        state=Share.State.SENT, sent_at=timezone.now(), weibo_status_id="4990000000000001",
    )  # fmt: skip
    return f"{SITE}/s/{token}/"


def assert_teaser_only(page, item: GatedPage, paywall_heading: str) -> None:
    expect(page.locator("h1")).to_have_text(item.title)
    expect(page.get_by_test_id("paywall")).to_contain_text(paywall_heading)
    # Cut on the server, not hidden by CSS: the text behind the paywall is not in the HTML.
    assert secret_marker(item.slug) not in page.content()


@pytest.mark.parametrize("language", ["zh-hans", "en"], ids=["zh", "en"])
def test_outsider_joins_through_a_shared_link(page_for, weibo_sandbox, language):
    load_club()
    text = TEXT[language]
    activity = ActivityPage.objects.get(slug="shanghai-tasting")  # for any member
    next_tier_offer = GatedPage.objects.get(slug="silver-coupon")  # 银卡 and above

    # The shared link: a public landing page with the teaser only and the admission rule.
    page = page_for(None)
    page.goto(outsider_start_url(activity))
    if language == "en":
        switch_language(page, "en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    landing = page.get_by_test_id("share-landing")
    expect(landing.locator("h1")).to_have_text(activity.title)
    expect(landing).to_contain_text(activity.summary)
    assert secret_marker(activity.slug) not in page.content()
    page.goto(f"{SITE}{activity.url}")
    assert_teaser_only(page, activity, text["paywall"])
    page.go_back()

    # Log in with Weibo from the landing page's call to join.
    page.get_by_test_id("join-cta").get_by_role("link").click()
    page.get_by_role("button", name=text["login"], exact=True).click()
    authorize_at_weibo(page, uid=NEWCOMER_UID)

    # Back on the site: consent first, then held as an applicant.
    page.get_by_role("button", name=text["consent"]).click()
    expect(page.locator("h1")).to_have_text(text["status"])
    expect(page.locator(".site-header .state-applicant")).to_have_text(text["applicant"])
    newcomer = Member.objects.get(weibo_uid=NEWCOMER_UID)
    assert newcomer.state == Member.State.APPLICANT
    # The share that brought them is credited.
    assert newcomer.share_referral.share.member.weibo_uid == SHARER_UID
    page.goto(f"{SITE}{activity.url}")
    assert_teaser_only(page, activity, text["paywall"])

    # An invitation code admits them.
    page.goto(f"{SITE}/members/join/")
    page.locator("#code").fill(INVITATION)
    page.get_by_role("button", name=text["join"], exact=True).click()
    expect(page.locator(".messages")).to_contain_text(text["welcome"])
    member = Member.objects.select_related("tier").get(weibo_uid=NEWCOMER_UID)
    assert member.state == Member.State.MEMBER
    expect(page.locator(".site-header .tier-badge")).to_have_text(member.tier.name)

    # Member content of their tier, in full.
    page.goto(f"{SITE}{activity.url}")
    expect(page.get_by_test_id("registration")).to_contain_text(text["registration"])
    expect(page.locator("article.item .body")).to_contain_text(secret_marker(activity.slug))
    expect(page.get_by_test_id("paywall")).to_have_count(0)

    # The next tier's item: a teaser with the upgrade call to action.
    page.goto(f"{SITE}{next_tier_offer.url}")
    assert_teaser_only(page, next_tier_offer, text["upgrade"])

    # On a desktop screen the feed marks the same item as locked for the next tier.
    page.set_viewport_size(DESKTOP)
    page.goto(f"{SITE}/community/")
    card = page.locator("article.item-card", has_text=next_tier_offer.title)
    expect(card.locator(".lock")).to_contain_text(text["card_lock"])
    open_card = page.locator("article.item-card", has_text=activity.title)
    expect(open_card).not_to_have_class(re.compile(r"\blocked\b"))
