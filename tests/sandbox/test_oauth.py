"""OAuth2: the authorize page and form, access_token, get_token_info and revokeoauth2."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import APP_KEY, APP_NAME, CALLBACK, OTHER_CALLBACK, radio_uids

SEEDED = [
    "1001000001", "1001000002", "1001000003", "1001000004", "1001000011", "1001000012",
    "1001000013", "1001000014", "1001000015", "1001000021", "1001000022",
]  # fmt: skip
TOKEN_BODY = re.compile(
    r'\{"access_token":"2\.00[A-Za-z0-9]{30}","remind_in":"157679999","expires_in":157679999,'
    r'"uid":"1001000002","isRealName":"true"\}'
)


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": APP_KEY,
        "redirect_uri": CALLBACK,
        "state": "st-123",
        "scope": "",
        "display": "mobile",
        "forcelogin": "true",
        "response_type": "code",
    }
    params.update(overrides)
    return params


def test_authorize_page_offers_every_user_with_allow_and_deny(sandbox):
    response = requests.get(sandbox.url("/oauth2/authorize"), params=authorize_params())

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.text
    assert "微博授权" in html and APP_NAME in html
    assert 'name="viewport"' in html
    offered = radio_uids(html)
    assert set(SEEDED) <= set(offered)  # users added by other tests survive resets
    assert offered == sorted(offered, key=int)
    assert "时尚博主Lily" in html and "1,250,000" in html
    assert 'action="/oauth2/authorize"' in html and 'method="post"' in html
    for name, value in [("client_id", APP_KEY), ("redirect_uri", CALLBACK), ("state", "st-123")]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in html
    assert 'name="action" value="allow"' in html and ">授权<" in html
    assert 'name="action" value="deny"' in html and ">取消<" in html
    assert "/avatars/1001000001/50.jpg" in html


def test_authorize_page_speaks_english_on_request(sandbox):
    response = requests.get(
        sandbox.url("/oauth2/authorize"), params=authorize_params(language="en")
    )

    assert response.status_code == 200
    assert ">Allow<" in response.text and ">Cancel<" in response.text
    assert ">授权<" not in response.text


def test_unknown_client_is_refused_with_21324(sandbox):
    response = requests.get(
        sandbox.url("/oauth2/authorize"),
        params=authorize_params(client_id="999", redirect_uri="http://evil.test/"),
        allow_redirects=False,
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_code"] == 21324
    assert body["request"] == body["error_uri"] == "/oauth2/authorize"
    assert body["error_description"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.test/accounts/weibo/login/callback/",
        "http://club.test:8001/accounts/weibo/login/callback/",
        "https://club.test:8000/accounts/weibo/login/callback/",
        "http://club.test:8000/accounts/",
        "http://club.test:8000.evil.test/accounts/weibo/login/callback/",
        "",
    ],
)
def test_unregistered_redirect_uri_gets_21322_and_no_redirect(sandbox, redirect_uri):
    response = requests.get(
        sandbox.url("/oauth2/authorize"),
        params=authorize_params(redirect_uri=redirect_uri),
        allow_redirects=False,
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    body = response.json()
    assert (body["error"], body["error_code"]) == ("redirect_uri_mismatch", 21322)
    assert body["error_uri"] == "/oauth2/authorize"


def test_registered_uri_is_a_prefix(sandbox):
    response = requests.get(
        sandbox.url("/oauth2/authorize"),
        params=authorize_params(redirect_uri=CALLBACK + "?process=login"),
    )

    assert response.status_code == 200


def test_allow_redirects_with_code_and_state_keeping_the_callback_query(sandbox):
    response = sandbox.authorize(
        "1001000002", redirect_uri=CALLBACK + "?process=login", state="abc-1"
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?process=login&code=")
    query = parse_qs(urlsplit(location).query)
    assert re.fullmatch(r"[0-9a-f]{32}", query["code"][0])
    assert query["state"] == ["abc-1"]


def test_deny_redirects_with_weibo_error_parameters_and_state(sandbox):
    response = sandbox.authorize(None, action="deny", state="abc-2")

    assert response.status_code == 302
    assert response.headers["Location"] == (
        CALLBACK + "?error_uri=%2Foauth2%2Fauthorize&error=access_denied"
        "&error_description=user%20denied%20your%20request.&error_code=21330&state=abc-2"
    )


def test_form_post_revalidates_client_and_redirect_uri(sandbox):
    assert sandbox.authorize("1001000002", client_id="999").json()["error_code"] == 21324
    mismatch = sandbox.authorize("1001000002", redirect_uri="http://evil.test/cb")
    assert mismatch.status_code == 400 and "Location" not in mismatch.headers
    assert mismatch.json()["error_code"] == 21322
    denied_elsewhere = sandbox.authorize(None, action="deny", redirect_uri="http://evil.test/cb")
    assert denied_elsewhere.json()["error_code"] == 21322


@pytest.mark.parametrize("uid", [None, "", "1009999999"])
def test_allow_needs_a_known_user(sandbox, uid):
    response = sandbox.authorize(uid)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "请选择一个微博帐号" in response.text


def test_access_token_answers_compact_json_as_text_plain(sandbox):
    response = sandbox.exchange(sandbox.code_for("1001000002"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert TOKEN_BODY.fullmatch(response.text), response.text
    body = response.json()
    assert isinstance(body["expires_in"], int)
    assert body["isRealName"] == "true" and body["remind_in"] == "157679999"


def test_access_token_accepts_parameters_in_the_query_string(sandbox):
    code = sandbox.code_for("1001000002")
    params = {
        "client_id": APP_KEY,
        "client_secret": "sandbox-test-secret",
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
    }

    response = requests.post(sandbox.url("/oauth2/access_token"), params=params)

    assert response.status_code == 200
    assert TOKEN_BODY.fullmatch(response.text)


def test_code_is_single_use(sandbox):
    code = sandbox.code_for("1001000002")
    assert sandbox.exchange(code).status_code == 200

    again = sandbox.exchange(code)

    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_code": 21325,
        "request": "/oauth2/access_token",
        "error_uri": "/oauth2/access_token",
        "error_description": f"invalid authorization code:{code}",
    }


def test_code_is_bound_to_its_redirect_uri(sandbox):
    code = sandbox.code_for("1001000002")

    elsewhere = sandbox.exchange(code, redirect_uri=OTHER_CALLBACK)

    assert elsewhere.json()["error_code"] == 21325
    assert sandbox.exchange(code).status_code == 200


def test_code_expires_after_ten_minutes(sandbox, monkeypatch):
    code = sandbox.code_for("1001000002")
    later = time.time() + 601
    monkeypatch.setattr(sandbox.server.store, "clock", lambda: later)

    assert sandbox.exchange(code).json()["error_code"] == 21325


@pytest.mark.parametrize(
    ("override", "error", "code"),
    [
        ({"client_secret": "wrong"}, "invalid_client", 21324),
        ({"client_id": "999"}, "invalid_client", 21324),
        ({"grant_type": "password"}, "unsupported_grant_type", 21328),
        ({"code": "not-a-code"}, "invalid_grant", 21325),
    ],
)
def test_access_token_errors(sandbox, override, error, code):
    response = sandbox.exchange(sandbox.code_for("1001000002"), **override)

    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["error_code"]) == (error, code)
    assert body["request"] == body["error_uri"] == "/oauth2/access_token"


def test_access_token_is_post_only(sandbox):
    response = requests.get(sandbox.url("/oauth2/access_token"))

    assert response.json()["error_code"] == 10021


def test_token_ttl_comes_from_the_user(sandbox):
    sandbox.control("POST", "/users", {"idstr": "1001000021", "token_ttl": 86400})

    body = sandbox.exchange(sandbox.code_for("1001000021")).json()

    assert body["expires_in"] == 86400 and body["remind_in"] == "86400"


def test_a_valid_token_is_handed_out_again_like_weibo_does(sandbox):
    first = sandbox.token_for("1001000002")

    assert sandbox.token_for("1001000002") == first
    sandbox.control("POST", "/tokens/revoke", {"access_token": first})
    assert sandbox.token_for("1001000002") != first


def test_granted_scope_is_reported(sandbox):
    code = sandbox.code_for("1001000002", scope="follow_app_official_microblog")
    body = sandbox.exchange(code).json()

    assert body["scope"] == "follow_app_official_microblog"
    info = requests.post(
        sandbox.url("/oauth2/get_token_info"), data={"access_token": body["access_token"]}
    ).json()
    assert info["scope"] == "follow_app_official_microblog"


def test_get_token_info_then_negative_expire_in_after_expiry(sandbox):
    token = sandbox.token_for("1001000002")

    info = requests.post(sandbox.url("/oauth2/get_token_info"), data={"access_token": token})

    assert info.status_code == 200
    body = info.json()
    assert list(body) == ["uid", "appkey", "scope", "create_at", "expire_in"]
    assert body["uid"] == 1001000002 and body["appkey"] == APP_KEY and body["scope"] == ""
    assert abs(body["create_at"] - time.time()) < 5
    assert 157679990 <= body["expire_in"] <= 157679999

    sandbox.control("POST", "/tokens/expire", {"access_token": token})
    expired = requests.post(sandbox.url("/oauth2/get_token_info"), data={"access_token": token})
    assert expired.status_code == 200 and expired.json()["expire_in"] < 0


def test_get_token_info_refuses_unknown_tokens(sandbox):
    response = requests.post(sandbox.url("/oauth2/get_token_info"), data={"access_token": "x"})

    assert response.status_code == 400
    assert response.json()["error_code"] == 21332


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_revoke_then_the_token_is_refused_with_21332(sandbox, method):
    token = sandbox.token_for("1001000002")

    response = requests.request(
        method, sandbox.url("/oauth2/revokeoauth2"), params={"access_token": token}
    )

    assert response.status_code == 200 and response.json() == {"result": "true"}
    show = sandbox.show(token, uid="1001000002")
    assert show.status_code == 401
    assert show.json() == {
        "error": "invalid_access_token",
        "error_code": 21332,
        "request": "/2/users/show.json",
    }
    info = requests.post(sandbox.url("/oauth2/get_token_info"), data={"access_token": token})
    assert info.json()["error_code"] == 21332
    again = requests.post(sandbox.url("/oauth2/revokeoauth2"), data={"access_token": token})
    assert again.json()["error_code"] == 21332


def test_expired_token_gets_21327_on_rest_calls(sandbox):
    token = sandbox.token_for("1001000002")
    sandbox.control("POST", "/tokens/expire", {"uid": "1001000002"})

    response = sandbox.show(token, uid="1001000002")

    assert response.status_code == 401
    assert response.json() == {
        "error": "expired_token",
        "error_code": 21327,
        "request": "/2/users/show.json",
    }


def test_token_in_the_authorization_header(sandbox):
    token = sandbox.token_for("1001000002")

    response = requests.get(
        sandbox.url("/2/users/show.json"),
        params={"uid": "1001000002"},
        headers={"Authorization": f"OAuth2 {token}"},
    )

    assert response.status_code == 200 and response.json()["idstr"] == "1001000002"
    calls = sandbox.control("GET", "/calls?path=/2/users/show.json")
    assert calls[-1]["auth"] == "header"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "OAuth2 2.00unknown"}])
def test_missing_or_unknown_token_gets_21301(sandbox, headers):
    response = requests.get(
        sandbox.url("/2/users/show.json"), params={"uid": "1001000002"}, headers=headers
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "auth faild!",
        "error_code": 21301,
        "request": "/2/users/show.json",
    }
