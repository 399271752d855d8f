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


# --- Staff pages ---------------------------------------------------------------------------------
#
# Every page the club adds to the Wagtail admin, by its route in the URL configuration, with how
# to reach it on the demo club. ``NOT_PAGES`` names the club's admin routes that are not pages:
# form targets that only accept POST, downloads and fragments. A club admin route in neither
# fails ``test_every_club_admin_route_is_checked``.

CLUB_MODULES = ("community", "core", "loyalty", "members", "partners", "share")

STAFF_PAGES = {
    "admin/": ["/admin/"],  # the admin home, with the panels the club adds
    "admin/audit/": ["/admin/audit/"],
    "admin/reports/": ["/admin/reports/"],
    "admin/reports/<slug:slug>/": ["/admin/reports/{chart}/"],  # every chart
    "admin/images/multiple/add/": ["/admin/images/multiple/add/"],
    "admin/members/": ["/admin/members/"],
    "admin/members/notify/": ["/admin/members/notify/"],
    "admin/members/<int:pk>/": ["/admin/members/{member}/"],
    "admin/members/applications/": ["/admin/members/applications/"],
    "admin/members/invitations/": ["/admin/members/invitations/"],
    "admin/members/invitations/new/": ["/admin/members/invitations/new/"],
    "admin/members/invitations/batch/": ["/admin/members/invitations/batch/?batch=demo"],
    "admin/members/imports/": ["/admin/members/imports/"],
    "admin/members/imports/<int:pk>/": ["/admin/members/imports/{customer_import}/"],
    "admin/members/consent/": ["/admin/members/consent/"],
    "admin/members/consent/new/": [
        "/admin/members/consent/new/",
        "/admin/members/consent/new/?from={consent}",
    ],
    "admin/members/consent/<int:pk>/": [
        "/admin/members/consent/{consent}/",
        "/admin/members/consent/{draft}/",
    ],
    "admin/members/consent/<int:pk>/edit/": ["/admin/members/consent/{draft}/edit/"],
    "admin/members/consent/<int:pk>/compare/": ["/admin/members/consent/{draft}/compare/"],
    "admin/points/accounts/": ["/admin/points/accounts/"],
    "admin/points/accounts/<int:member_id>/": ["/admin/points/accounts/{member}/"],
    "admin/points/redemptions/": ["/admin/points/redemptions/"],
    "admin/points/rewards/": ["/admin/points/rewards/"],
    "admin/points/rewards/<int:pk>/codes/": ["/admin/points/rewards/{reward}/codes/"],
    "admin/points/liability/": ["/admin/points/liability/"],
    "admin/partners/": ["/admin/partners/"],
    "admin/partners/<int:pk>/keys/": ["/admin/partners/{partner}/keys/"],
    "admin/partners/<int:pk>/statements/": ["/admin/partners/{partner}/statements/"],
    "admin/partners/<int:pk>/statements/print/": ["/admin/partners/{partner}/statements/print/"],
    "admin/shares/": ["/admin/shares/"],
    "admin/community/moderation/": ["/admin/community/moderation/"],
    "admin/community/moderation/<int:pk>/": ["/admin/community/moderation/{comment}/"],
    "admin/community/moderation/keywords/test/": [
        "/admin/community/moderation/keywords/test/",
        "/admin/community/moderation/keywords/test/?text=有人代购吗，加微信",
    ],
    "admin/community/moderation/photos/": ["/admin/community/moderation/photos/"],
    "admin/community/participation/": ["/admin/community/participation/"],
    "admin/community/participation/offers/<int:pk>/": [
        "/admin/community/participation/offers/{offer}/",
        "/admin/community/participation/offers/{draw_offer}/",
    ],
    "admin/community/participation/activities/<int:pk>/": [
        "/admin/community/participation/activities/{activity}/"
    ],
    "admin/community/participation/offers/<int:pk>/claims/<int:claim_pk>/cancel/": [
        "/admin/community/participation/offers/{offer}/claims/{claim}/cancel/"
    ],
}
# The club's snippets: every page of their viewsets, on one object each.
SNIPPETS = {
    "community/moderationkeyword": "keyword",
    "loyalty/earningrule": "rule",
    "loyalty/tierrequirement": "tier_requirement",
    "loyalty/reward": "reward",
    "loyalty/partner": "partner",
}
for _snippet, _key in SNIPPETS.items():
    STAFF_PAGES[f"admin/snippets/{_snippet}/"] = [f"/admin/snippets/{_snippet}/"]
    STAFF_PAGES[f"admin/snippets/{_snippet}/add/"] = [f"/admin/snippets/{_snippet}/add/"]
    for _view in ("edit", "delete", "usage", "history", "copy"):
        STAFF_PAGES[f"admin/snippets/{_snippet}/{_view}/<int:pk>/"] = [
            f"/admin/snippets/{_snippet}/{_view}/{{{_key}}}/"
        ]
# The club's settings (Wagtail's settings view, one page per setting model).
CLUB_SETTINGS = ("members.admissionsettings", "loyalty.loyaltysettings", "share.sharesettings")

NOT_PAGES = {
    # Downloads (CSV, JSON).
    "admin/club/live-counters.json": "JSON the live counters panel polls",
    "admin/audit/export.csv": "CSV download",
    "admin/members/export.csv": "CSV download",
    "admin/members/invitations/export.csv": "CSV download",
    "admin/points/redemptions/export.csv": "CSV download",
    "admin/partners/<int:pk>/statements/export.csv": "CSV download",
    "admin/community/participation/offers/<int:pk>/claims.csv": "CSV download",
    "admin/community/participation/activities/<int:pk>/registrations.csv": "CSV download",
    # Form targets (POST only).
    "admin/members/<int:pk>/suspend/": "POST only",
    "admin/members/<int:pk>/reinstate/": "POST only",
    "admin/members/<int:pk>/tier/": "POST only",
    "admin/members/<int:pk>/birthday/": "POST only",
    "admin/members/<int:pk>/points/": "POST only",
    "admin/members/applications/<int:pk>/decide/": "POST only",
    "admin/members/consent/<int:pk>/submit/": "POST only",
    "admin/members/consent/<int:pk>/review/": "POST only",
    "admin/points/accounts/<int:member_id>/adjust/": "POST only",
    "admin/points/accounts/<int:member_id>/tier/": "POST only",
    "admin/points/entries/<int:entry_id>/reverse/": "POST only",
    "admin/points/redemptions/bulk/": "POST only",
    "admin/partners/<int:pk>/statements/close/": "POST only",
    "admin/community/moderation/bulk/": "POST only",
    "admin/community/moderation/<int:pk>/decide/": "POST only",
    "admin/community/moderation/photos/<int:pk>/decide/": "POST only",
    "admin/community/participation/offers/<int:pk>/codes/": "POST only",
    "admin/community/participation/registrations/<int:pk>/checkin/": "POST only",
    "admin/community/participation/items/<int:pk>/allocation/": "POST only",
    "admin/community/participation/items/<int:pk>/draw/run/": "POST only",
    # The multiple image upload's requests from its page's script (POST only).
    "admin/images/multiple/<int:image_id>/": "POST only",
    "admin/images/multiple/create_from_uploaded_image/<int:uploaded_file_id>/": "POST only",
    "admin/images/multiple/<int:image_id>/delete/": "POST only",
}
for _snippet in SNIPPETS:
    for _fragment in ("results/", "history-results/<int:pk>/"):  # reloaded into their pages
        NOT_PAGES[f"admin/snippets/{_snippet}/{_fragment}"] = "fragment of its list page"


def club_admin_routes() -> set[str]:
    """Routes under admin/ served by the club's views or by viewsets of the club's models."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    routes = set()
    for route, pattern in walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "view_class", pattern.callback)
        club_view = view.__module__.split(".")[0] in CLUB_MODULES
        club_snippet = route.startswith("admin/snippets/") and route.split("/")[2] in CLUB_MODULES
        if route.startswith("admin/") and (club_view or club_snippet):
            routes.add(route)
    return routes


def test_every_club_admin_route_is_checked():
    from wagtail.contrib.settings.registry import registry

    routes = club_admin_routes()
    assert set(NOT_PAGES) <= routes, set(NOT_PAGES) - routes
    assert routes - set(NOT_PAGES) - set(STAFF_PAGES) == set(), "club admin routes not checked"
    assert set(STAFF_PAGES) - {"admin/"} <= routes, "pages checked that are no longer routes"
    settings_models = {model._meta.label_lower for model in registry}
    club_settings = {label for label in settings_models if label.split(".")[0] in CLUB_MODULES}
    assert club_settings == set(CLUB_SETTINGS)


def _staff_objects() -> dict:
    from datetime import timedelta

    from django.utils import timezone

    from community.models_interaction import Comment, ModerationKeyword
    from community.participation import services as participation
    from core.reports.catalogue import CHARTS
    from loyalty.models import EarningRule, Partner, TierRequirement
    from members import consent_services
    from members.models import CustomerImport
    from members.selectors import current_consent_text
    from partners import demo as partners_demo

    partners_demo.load()
    staff = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
    consent = current_consent_text()
    draft = consent_services.consent_text_create(
        actor=staff, title=consent.title, body=consent.body + "\n\n新增：积分可在合作伙伴处使用。",
        based_on=consent,
    )  # fmt: skip
    imported = CustomerImport.objects.create(
        uploaded_by=staff, file_name="客户名单.csv", content="membership_number,name,tier\n",
        state=CustomerImport.State.DONE, total_rows=3, processed_rows=3, created_rows=1,
        updated_rows=1, errors=[{"row": 3, "error": "等级不存在"}], finished_at=timezone.now(),
    )  # fmt: skip
    draw_offer = OfferPage.objects.get(slug="presale-early-access")
    offer = OfferPage.objects.get(slug="silver-coupon")
    gold = Member.objects.get(weibo_uid=GOLD_UID)
    # A claim to take back (the claim cancel page).
    claim = participation.offer_claim(offer=offer, member=gold, idempotency_key="staff-pages")
    now = timezone.now()
    participation.allocation_configure(
        item=draw_offer, actor=staff, mode="draw", hold_hours=24,
        entries_open_at=now - timedelta(hours=1), entries_close_at=now + timedelta(days=1),
    )  # fmt: skip
    return {
        "charts": [chart.slug for chart in CHARTS],
        "member": gold,
        "customer_import": imported,
        "consent": consent,
        "draft": draft,
        "reward": Reward.objects.order_by("pk").first(),
        "partner": Partner.objects.order_by("pk").first(),
        "comment": Comment.objects.filter(state=Comment.State.HELD).first(),
        "offer": offer,
        "claim": claim,
        "draw_offer": draw_offer,
        "activity": ActivityPage.objects.get(slug="milan-trip"),
        "keyword": ModerationKeyword.objects.order_by("pk").first(),
        "rule": EarningRule.objects.order_by("pk").first(),
        "tier_requirement": TierRequirement.objects.order_by("pk").first(),
    }


@pytest.mark.timeout(600)  # some ninety pages
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_club_staff_pages_have_no_serious_accessibility_violations(page_for, club, viewport):
    objects = run_off_the_event_loop(_staff_objects)
    missing = [name for name, value in objects.items() if value is None]
    assert missing == [], f"the demo club has no {missing}"
    charts = objects.pop("charts")
    ids = {name: value.pk for name, value in objects.items()}
    urls = [url.format(chart=chart) if "{chart}" in url else url.format(**ids)
            for pages in STAFF_PAGES.values() for url in pages
            for chart in (charts if "{chart}" in url else [None])]  # fmt: skip
    urls += [f"/admin/settings/{label.replace('.', '/')}/" for label in CLUB_SETTINGS]
    staff = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
    failures = {}
    page = page_for(staff, viewport=viewport)
    for url in urls:
        response = page.goto(f"{SITE}{url}")
        assert response.status == 200, (url, response.status)
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        if violations:
            failures[url] = violations
    print(f"{len(urls)} staff pages checked at {viewport['width']} px")
    report = [f"{url}: {v['id']} ({v['impact']}) {v['help']}: {v['nodes']}"
              for url, violations in failures.items() for v in violations]  # fmt: skip
    assert failures == {}, "\n".join(report)
