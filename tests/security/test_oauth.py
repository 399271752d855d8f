"""The Weibo login callback only completes the login this browser started, once.

tests/members/test_weibo_login.py already proves that a tampered ``state`` is refused and that
the same browser cannot replay its callback after logging out. Here: a callback carried into
another browser (login CSRF: an attacker makes the victim sign in as the attacker), a callback
without any state, and a used authorization code grafted onto a fresh, valid login.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from members.models import AdmissionSettings, Member
from tests.members.weibo_flow import authorize_at_weibo, return_to_site, start_login

pytestmark = pytest.mark.django_db

ATTACKER = "1001000021"
VICTIM = "1001000022"
EXPIRED_TEXT = "登录请求已失效"


@pytest.fixture(autouse=True)
def club(weibo_sandbox, landing_site, tiers):
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.criteria_enabled = False
    settings_.save()


def with_query(callback_url: str, **changes) -> str:
    parts = urlsplit(callback_url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert EXPIRED_TEXT in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_a_callback_started_in_another_browser_does_not_sign_the_victim_in():
    attacker = Client()
    callback = authorize_at_weibo(start_login(attacker), uid=ATTACKER)
    victim = Client()
    assert_refused(return_to_site(victim, callback))

    # Even a victim in the middle of their own login does not end up as the attacker.
    start_login(victim)
    assert_refused(return_to_site(victim, callback))
    assert not Member.objects.filter(weibo_uid=ATTACKER).exists()


def test_a_callback_without_state_is_refused(client):
    callback = authorize_at_weibo(start_login(client), uid=VICTIM)
    assert_refused(return_to_site(client, with_query(callback, state=None)))
    assert not Member.objects.exists()


def test_a_used_code_cannot_complete_a_new_login(client):
    """Weibo codes are single use: a captured callback's code fails even with a fresh state."""
    callback = authorize_at_weibo(start_login(client), uid=VICTIM)
    first = return_to_site(client, callback)
    assert first.wsgi_request.user.is_authenticated
    used_code = parse_qs(urlsplit(callback).query)["code"][0]

    other = Client()
    fresh_callback = authorize_at_weibo(start_login(other), uid=ATTACKER)
    grafted = with_query(fresh_callback, code=used_code)
    response = return_to_site(other, grafted)
    assert response.status_code in (200, 401)
    assert not response.wsgi_request.user.is_authenticated
    assert "微博登录未完成" in response.content.decode()
