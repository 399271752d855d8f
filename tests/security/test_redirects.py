"""No ``next=`` (or Referer) sends a visitor to another site.

Each hop of every redirect chain must stay on this site; the forms below are the ones browsers
resolve to another host even though they look like paths or lack a host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from community import demo
from community.models import CommunityHome, PostPage
from community.models_interaction import Comment
from members.models import AdmissionSettings, Consent, Member
from members.selectors import current_consent_text
from tests.factories import MemberFactory, StaffFactory
from tests.members.weibo_flow import accept_consent, weibo_login

pytestmark = pytest.mark.django_db

OFF_SITE = ["https://evil.example/", "//evil.example", "/\\evil.example", "https:evil.example",
            "\\\\evil.example", " //evil.example", "http://testserver@evil.example/"]  # fmt: skip


def stays_on_site(location: str) -> bool:
    """Whether a browser following ``location`` from http://testserver/ stays on testserver."""
    normalised = location.strip().replace("\\", "/")
    parts = urlsplit(normalised)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return False
    if parts.scheme and not parts.netloc:
        return False  # "https:evil.example": browsers read the rest as a host
    if parts.netloc:
        return parts.hostname == "testserver" and "@" not in parts.netloc
    return True


def follow_on_site(client: Client, response, limit: int = 10):
    """Follow a redirect chain hop by hop, failing at the first hop that leaves the site."""
    for _hop in range(limit):
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        location = response["Location"]
        assert stays_on_site(location), f"redirect off the site: {location!r}"
        parts = urlsplit(location)
        response = client.get(f"{parts.path or '/'}?{parts.query}")
    raise AssertionError("too many redirects")


def test_the_check_itself_recognises_every_off_site_form():
    assert not any(stays_on_site(target) for target in OFF_SITE)
    assert all(stays_on_site(ok) for ok in ["/", "/members/me/?a=1", "http://testserver/x"])


@pytest.mark.parametrize("target", OFF_SITE)
def test_weibo_login_never_continues_off_site(client, weibo_sandbox, landing_site, tiers, target):
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.criteria_enabled = False
    settings_.save()
    uid = "1001000002"
    if not Member.objects.filter(weibo_uid=uid).exists():
        weibo_login(client, uid=uid)
        accept_consent(client)
        Member.objects.filter(weibo_uid=uid).update(
            state=Member.State.MEMBER, tier=tiers["regular"]
        )
        client.logout()
    response = weibo_login(client, uid=uid, next_url=target)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/"
    assert response.wsgi_request.user.is_authenticated


@pytest.mark.parametrize("target", OFF_SITE)
def test_welcome_router_keeps_members_on_site(client, member, target):
    assert Consent.objects.filter(member=member, text=current_consent_text()).exists()
    client.force_login(member.user)
    response = client.get("/members/welcome/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_language_switch_never_redirects_off_site(client, target):
    response = client.post("/i18n/setlang/", {"language": "en", "next": target})
    assert response.status_code == 302
    assert stays_on_site(response["Location"]), response["Location"]
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    response = client.post("/i18n/setlang/", {"language": "zh-hans"}, HTTP_REFERER=target)
    assert stays_on_site(response["Location"]), response["Location"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_logout_never_redirects_off_site(client, member, target):
    client.force_login(member.user)
    response = client.post("/accounts/logout/", {"next": target})
    assert response.status_code == 302
    follow_on_site(client, response)
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("target", OFF_SITE)
def test_staff_password_login_never_redirects_off_site(client, target):
    user = StaffFactory(username="staffer")
    user.set_password("a-long-password-1")
    user.save()
    response = client.post(
        f"/accounts/login/?next={target}",
        {"login": "staffer", "password": "a-long-password-1", "next": target},
    )
    assert response.status_code == 302
    follow_on_site(client, response)
    assert client.session.get("_auth_user_id") == str(user.pk)


@pytest.mark.parametrize("target", OFF_SITE)
def test_admin_login_and_moderation_never_redirect_off_site(client, tiers, target):
    response = client.get("/admin/", {"next": target})
    follow_on_site(client, response)
    response = client.get("/admin/login/", {"next": target})
    follow_on_site(client, response)

    client.force_login(StaffFactory())
    writer = MemberFactory(tier=tiers["gold"])
    demo.load_structure()
    page = PostPage(title="文章", slug="a-post", access="members", body=[])
    CommunityHome.objects.get().add_child(instance=page)
    comment = Comment.objects.create(page_id=page.pk, member=writer, body="hi", state="held")
    response = client.post(
        f"/admin/community/moderation/{comment.pk}/decide/",
        {"decision": "approve", "reason": "ok", "next": target},
    )
    assert response.status_code == 302
    assert stays_on_site(response["Location"]), response["Location"]
