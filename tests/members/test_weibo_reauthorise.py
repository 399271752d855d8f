"""Authorising Weibo again from the account page, and what the account page says about the token:
driven over HTTP through the Weibo sandbox, with tokens revoked and expired there."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from html import unescape

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.utils import timezone

from core import crypto
from core.models import Notification
from members.models import AdmissionSettings, Member
from members.services import invitation_batch_create, weibo_tokens_warn_expiring
from tests.factories import StaffFactory, standard_tiers
from tests.members.weibo_flow import accept_consent, authorize_at_weibo, return_to_site, weibo_login

pytestmark = pytest.mark.django_db

# Each test client comes from an address of its own: login attempts are rate-limited per address.
_addresses = (f"10.9.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture
def client():
    return Client(REMOTE_ADDR=next(_addresses))


UID = "1001000002"
OTHER_UID = "1001000021"
TOKEN_INFO = "/oauth2/get_token_info"


@pytest.fixture(autouse=True)
def club(weibo_sandbox, landing_site):
    tiers = standard_tiers()
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.criteria_enabled = False
    settings_.save()
    return tiers


def become_member(client, uid: str = UID) -> Member:
    weibo_login(client, uid=uid)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    member = Member.objects.get(weibo_uid=uid)
    assert member.state == Member.State.MEMBER
    return member


def sandbox_post(base: str, endpoint: str, **body) -> dict:
    response = requests.post(f"{base}/_sandbox/{endpoint}", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def token_info_calls(base: str) -> int:
    return len(
        requests.get(f"{base}/_sandbox/calls", params={"path": TOKEN_INFO}, timeout=5).json()
    )


def reauthorise_form(html: str) -> tuple[str, str]:
    """The 重新授权 form's action and the page it returns to."""
    match = re.search(
        r'<form method="post" action="([^"]+)"[^>]*data-testid="reauthorise">.*?'
        r'name="next" value="([^"]*)"',
        html,
        re.S,
    )
    assert match, "no 重新授权 form on the page"
    return unescape(match.group(1)), unescape(match.group(2))


def reauthorise(client, html: str, *, uid: str = UID, next_url: str | None = None):
    """Press 重新授权, choose the Weibo account at Weibo, come back; the final response."""
    action, shown_next = reauthorise_form(html)
    assert "process=connect" in action
    started = client.post(action, {"next": next_url if next_url is not None else shown_next})
    assert started.status_code == 302
    callback = authorize_at_weibo(started["Location"], uid=uid)
    return return_to_site(client, callback)


def test_a_token_revoked_at_weibo_shows_on_the_account_page_and_is_renewed_there(
    client, weibo_sandbox
):
    member = become_member(client)
    old_token = crypto.decrypt(member.weibo_token_encrypted)
    # Revoked at Weibo (the member removed the app there): our record still says valid.
    sandbox_post(weibo_sandbox, "tokens/revoke", uid=UID)
    assert member.weibo_token_state == Member.TokenState.VALID
    response = client.get("/members/me/")
    html = response.content.decode()
    assert "微博授权已失效，分享前需要重新授权" in html
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH

    response = reauthorise(client, html)
    assert response.request["PATH_INFO"] == "/members/me/"
    html = response.content.decode()
    assert "微博授权已更新" in html
    assert "微博授权有效" in html
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.VALID
    new_token = crypto.decrypt(member.weibo_token_encrypted)
    assert new_token and new_token != old_token
    assert response.wsgi_request.user == member.user


def test_an_expired_token_shows_as_expired(client, weibo_sandbox):
    member = become_member(client)
    sandbox_post(weibo_sandbox, "tokens/expire", uid=UID)
    html = client.get("/members/me/").content.decode()
    assert "微博授权已失效" in html
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH


def test_weibo_is_asked_at_most_once_a_minute_per_member(client, weibo_sandbox):
    become_member(client)
    before = token_info_calls(weibo_sandbox)
    for _ in range(3):
        assert "微博授权有效" in client.get("/members/me/").content.decode()
    assert token_info_calls(weibo_sandbox) == before + 1


def test_weibo_down_leaves_the_account_page_on_our_own_record(client, weibo_sandbox):
    become_member(client)
    sandbox_post(weibo_sandbox, "faults", path=TOKEN_INFO, mode="error", error_code=10001,
                 count=5)  # fmt: skip
    html = client.get("/members/me/").content.decode()
    assert "微博授权有效" in html


def test_authorising_with_another_weibo_account_is_refused(client, weibo_sandbox):
    member = become_member(client)
    sandbox_post(weibo_sandbox, "tokens/revoke", uid=UID)
    html = client.get("/members/me/").content.decode()
    response = reauthorise(client, html, uid=OTHER_UID)
    assert response.status_code == 403
    assert "不是您在俱乐部使用的账户" in response.content.decode()
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH
    assert not SocialAccount.objects.filter(uid=OTHER_UID).exists()
    assert not Member.objects.filter(weibo_uid=OTHER_UID).exists()


def test_an_unsafe_return_address_lands_on_the_account_page(client, weibo_sandbox):
    become_member(client)
    sandbox_post(weibo_sandbox, "tokens/revoke", uid=UID)
    html = client.get("/members/me/").content.decode()
    response = reauthorise(client, html, next_url="https://evil.example/")
    assert response.request["PATH_INFO"] == "/members/me/"
    assert "微博授权有效" in response.content.decode()


# --- Expiry warnings (the daily job) --------------------------------------------------------


def test_members_are_warned_once_a_week_before_their_authorisation_ends(client, weibo_sandbox):
    member = become_member(client)
    now = timezone.now()
    Member.objects.filter(pk=member.pk).update(weibo_token_expires_at=now + timedelta(days=3))
    later = become_member(Client(REMOTE_ADDR=next(_addresses)), uid="1001000011")
    Member.objects.filter(pk=later.pk).update(weibo_token_expires_at=now + timedelta(days=30))

    from members.tasks import warn_expiring_tokens

    assert warn_expiring_tokens() == 1  # the Celery task the beat schedule runs daily
    assert weibo_tokens_warn_expiring(now=now + timedelta(hours=24)) == 0  # the next day
    warnings = Notification.objects.filter(user=member.user, title="微博授权即将到期")
    assert warnings.count() == 1
    assert warnings.get().link == "/members/me/"
    assert not Notification.objects.filter(user=later.user, title="微博授权即将到期").exists()

    # Authorised anew (a new expiry), and again close to its end: told again, once.
    Member.objects.filter(pk=member.pk).update(weibo_token_expires_at=now + timedelta(days=5))
    assert weibo_tokens_warn_expiring(now=now) == 1
    assert weibo_tokens_warn_expiring(now=now) == 0


def test_the_daily_job_is_scheduled(settings):
    jobs = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "members.warn_expiring_tokens" in jobs
