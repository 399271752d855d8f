"""The site shell: landing page, language, the viewer's state in the header, static files."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from community.models import LandingPage
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_site():
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_landing_page_is_public_and_in_simplified_chinese_by_default(client, demo_site):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-CN">' in html
    assert "高端会员专属社区" in html
    assert "访客" in html  # the header names the outsider state
    assert 'property="og:title"' in html


def test_visitor_can_switch_to_english(client, demo_site):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html
    assert "Visitor" in html
    assert "访客" not in html


@pytest.mark.parametrize(
    ("state", "expected"),
    [(Member.State.APPLICANT, "申请审核中"), (Member.State.SUSPENDED, "账户已暂停")],
)
def test_header_names_the_members_state(client, demo_site, state, expected):
    member = MemberFactory(state=state)
    client.force_login(member.user)
    html = client.get("/").content.decode()
    assert expected in html
    assert "访客" not in html


def test_header_shows_the_members_tier_badge(client, demo_site):
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"], display_name="王先生")
    client.force_login(member.user)
    html = client.get("/").content.decode()
    assert "王先生" in html
    assert 'class="tier-badge"' in html
    assert "金卡" in html


def test_header_shows_staff_the_admin_link(client, demo_site):
    client.force_login(StaffFactory())
    html = client.get("/").content.decode()
    assert "工作人员" in html
    assert 'href="/admin/"' in html


def test_static_files_are_served_by_the_app(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b".tier-badge" in body


def test_unknown_page_gets_the_translated_404(client, demo_site):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def demo_snapshot() -> dict[str, int]:
    from django.apps import apps

    labels = ["core", "members", "community", "wagtailcore", "auth"]
    return {
        model._meta.label: model.objects.count()
        for label in labels
        for model in apps.get_app_config(label).get_models()
    }


def test_demo_data_is_idempotent(demo_site):
    before = demo_snapshot()
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert demo_snapshot() == before
    assert LandingPage.objects.live().count() == 1


def test_robots_txt_keeps_crawlers_out_of_member_areas(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Disallow: /admin/" in body and "Disallow: /members/" in body


@pytest.mark.parametrize(
    ("accept", "lang"),
    [("en-US,en;q=0.9", "en"), ("zh-TW,en;q=0.5", "zh-CN"), ("fr-FR,en;q=0.5", "zh-CN"),
     ("", "zh-CN"), ("*", "zh-CN")],
)  # fmt: skip
def test_first_visit_follows_the_browsers_first_language(client, demo_site, accept, lang):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)
    assert f'<html lang="{lang}">' in response.content.decode()
    assert "Accept-Language" in response["Vary"]


def test_a_chosen_language_wins_over_the_browsers(client, demo_site):
    client.get("/i18n/zh-hans/?next=/")
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="zh-CN">' in response.content.decode()


def test_cached_outsider_page_is_kept_per_browser_language(client, demo_site, settings):
    settings.PAGE_CACHE_ENABLED = True
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    english_again = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in english
    assert '<html lang="zh-CN">' in chinese
    assert '<html lang="en">' in english_again.content.decode()


def test_member_navigation_has_four_tabs_and_the_unread_badge(client, demo_site):
    member = MemberFactory(tier=standard_tiers()["gold"])
    client.force_login(member.user)
    html = client.get("/community/").content.decode()
    tabs = html[html.index('data-testid="tab-bar"') : html.index("</nav>", html.index("tab-bar"))]
    for label in ("社区", "活动", "积分", "我的"):
        assert label in tabs
    assert 'href="/community/" aria-current="page"' in tabs
    assert "data-unread-badge" in tabs
    assert 'data-language="en"' in html  # the language links sit in the footer
    assert "退出登录" not in html  # signing out lives in 我的 → 设置


def test_settings_page_offers_the_languages_and_signing_out(client, demo_site):
    member = MemberFactory()
    client.force_login(member.user)
    me = client.get("/members/me/").content.decode()
    assert 'href="/members/me/settings/"' in me
    html = client.get("/members/me/settings/").content.decode()
    assert 'href="/i18n/en/?next=/members/me/settings/"' in html
    assert "退出登录" in html
    client.get("/i18n/en/?next=/members/me/settings/")
    member.refresh_from_db()
    assert member.language == "en"


def test_a_message_waits_through_pages_that_do_not_show_it_and_is_shown_once(client):
    """Messages are stored only when a page reads or adds one: a request in between that
    never looks (``/robots.txt``) must neither lose the message nor show it."""
    from tests.community.test_claims import claim, make_offer

    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=1)
    claim(offer, MemberFactory(tier=tiers["gold"]))
    late = MemberFactory(tier=tiers["gold"])
    client.force_login(late.user)

    assert client.post(f"/community/offers/{offer.pk}/claim/", {"key": "k"}).status_code == 302
    assert client.get("/robots.txt").status_code == 200
    shown = client.get(offer.url).content.decode()
    assert '<li class="message error">' in shown and "已领完" in shown
    again = client.get(offer.url).content.decode()
    assert '<ul class="messages">' not in again


def test_a_visitor_without_a_session_costs_no_query(client, django_assert_num_queries):
    """No session cookie means no one is signed in: not even the session table is read."""
    with django_assert_num_queries(0):
        assert client.get("/robots.txt").status_code == 200
    member = MemberFactory()
    client.force_login(member.user)
    client.get("/robots.txt")  # the first request of the day also notes the member active
    with django_assert_num_queries(1):  # the session, read with its user
        assert client.get("/robots.txt").status_code == 200
