"""The share confirmation asks Weibo whether the member's token still works, and 重新授权 runs
Weibo's authorisation and comes back to the same confirmation: over HTTP through the sandbox."""

from __future__ import annotations

import itertools
import re
from html import unescape

import pytest
import requests
from django.test import Client

from members.models import Member
from members.services import invitation_batch_create
from share.models import Share
from tests.factories import StaffFactory
from tests.members.weibo_flow import accept_consent, authorize_at_weibo, return_to_site, weibo_login
from tests.share.conftest import register

pytestmark = pytest.mark.django_db

UID = "1001000012"
_addresses = (f"10.8.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture
def signed_in(sandbox, club):
    """A member who signed in with Weibo (so they can authorise again) and may share the trip."""
    client = Client(REMOTE_ADDR=next(_addresses))
    weibo_login(client, uid=UID)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    member = Member.objects.get(weibo_uid=UID)
    Member.objects.filter(pk=member.pk).update(tier=club["tiers"]["gold"])
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    return client, member, trip


def control(sandbox, path: str, **body) -> None:
    requests.post(f"{sandbox.base}/_sandbox/{path}", json=body, timeout=5).raise_for_status()


def confirmation(client, trip) -> str:
    response = client.get(f"/share/new/?kind=item&ref={trip.pk}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("what", ["tokens/revoke", "tokens/expire"])
def test_the_confirmation_asks_to_reauthorise_a_token_weibo_no_longer_accepts(
    signed_in, sandbox, what
):
    client, member, trip = signed_in
    control(sandbox, what, uid=UID)  # at Weibo only: our record still says the token is valid
    assert member.weibo_token_state == Member.TokenState.VALID
    html = confirmation(client, trip)
    assert 'data-testid="token-reauth"' in html
    assert "你的微博授权已失效" in html
    key = re.search(r'name="confirmation_key" value="([0-9a-f]+)"', html).group(1)
    text = unescape(re.search(r'<textarea id="share-text"[^>]*>(.*?)</textarea>', html, re.S)[1])
    response = client.post("/share/new/", {"kind": "item", "ref": trip.pk, "text": text,
                                           "confirmation_key": key})  # fmt: skip
    assert response.status_code == 400
    assert not Share.objects.exists()
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH


def test_reauthorising_from_the_confirmation_comes_back_to_it(signed_in, sandbox):
    client, member, trip = signed_in
    control(sandbox, "tokens/revoke", uid=UID)
    html = confirmation(client, trip)
    form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*data-testid="reauthorise">.*?'
        r'name="next" value="([^"]*)"', html, re.S,
    )  # fmt: skip
    action, next_url = unescape(form[1]), unescape(form[2])
    assert next_url == f"/share/new/?kind=item&ref={trip.pk}"

    started = client.post(action, {"next": next_url})
    callback = authorize_at_weibo(started["Location"], uid=UID)
    response = return_to_site(client, callback)

    assert response.request["PATH_INFO"] == "/share/new/"
    assert response.request["QUERY_STRING"] == f"kind=item&ref={trip.pk}"
    html = response.content.decode()
    assert "微博授权已更新" in html
    assert 'data-testid="token-reauth"' not in html
    assert "确认发布到微博" in html and " disabled>" not in html
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.VALID


def test_the_share_list_offers_weibos_authorisation_not_the_login_page(signed_in, sandbox):
    client, member, _trip = signed_in
    Member.objects.filter(pk=member.pk).update(weibo_token_state=Member.TokenState.NEEDS_REAUTH)
    html = client.get("/share/mine/").content.decode()
    assert 'href="/members/login/"' not in html
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*data-testid="reauthorise"', html)
    assert unescape(form[1]) == "/accounts/weibo/login/?process=connect"
    started = client.post(unescape(form[1]), {"next": "/share/mine/"})
    callback = authorize_at_weibo(started["Location"], uid=UID)
    response = return_to_site(client, callback)
    assert response.request["PATH_INFO"] == "/share/mine/"
    assert "你的微博授权已失效" not in response.content.decode()
