"""Drive the real Weibo login: our site (Django test client) ↔ the Weibo sandbox (real HTTP)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests


def start_login(client, next_url: str | None = None):
    data = {"next": next_url} if next_url else {}
    response = client.post("/accounts/weibo/login/", data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def authorize_at_weibo(authorize_url: str, *, uid: str, action: str = "allow") -> str:
    """Answer Weibo's authorize page as the person would; return where Weibo redirects."""
    parts = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text[:300]
    form = {k: query.get(k, "") for k in ("client_id", "redirect_uri", "state", "scope")}
    form.update({"uid": uid, "action": action})
    answer = requests.post(
        f"{parts.scheme}://{parts.netloc}/oauth2/authorize",
        data=form,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["Location"]


def return_to_site(client, callback_url: str, follow: bool = True):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}", follow=follow)


def weibo_login(client, *, uid: str, action: str = "allow", next_url: str | None = None):
    """The whole round trip; returns the site's final response (redirects followed)."""
    callback = authorize_at_weibo(start_login(client, next_url), uid=uid, action=action)
    return return_to_site(client, callback)


def accept_consent(client):
    return client.post("/members/consent/", {"decision": "accept"}, follow=True)
