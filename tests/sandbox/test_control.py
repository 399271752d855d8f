"""The /_sandbox/ control API, the public timeline page, reset and persistence."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from weibo_sandbox.server import start_in_thread

from .conftest import APP_KEY, LINK, RIP, Sandbox, jpeg_bytes, sandbox_config


def test_health(sandbox):
    assert sandbox.control("GET", "/health") == {"ok": True}


def test_config_shows_the_public_app_settings(sandbox):
    config = sandbox.control("GET", "/config")

    assert config["app_key"] == APP_KEY and config["safe_domain"] == "club.test"
    assert "app_secret" not in config


def test_users_list_and_upsert(sandbox):
    users = sandbox.control("GET", "/users")
    zombie = next(user for user in users if user["idstr"] == "1001000003")
    assert zombie["default_avatar"] is True and zombie["token_ttl"] is None

    created = sandbox.control(
        "POST",
        "/users",
        [
            {
                "idstr": "1001000099",
                "screen_name": "新用户小林",
                "gender": "f",
                "followers_count": 12,
                "created_at": "2020-02-02",
            },
            {
                "id": 1001000098,
                "screen_name": "老用户",
                "created_at": "Sun Feb 02 10:00:00 +0800 2020",
            },
        ],
    )
    updated = sandbox.control("POST", "/users", {"id": "1001000002", "followers_count": 999})

    assert [user["idstr"] for user in created] == ["1001000099", "1001000098"]
    assert created[0]["created_at"] == "Sun Feb 02 00:00:00 +0800 2020"
    assert created[1]["created_at"] == "Sun Feb 02 10:00:00 +0800 2020"
    assert updated[0]["followers_count"] == 999 and updated[0]["screen_name"] == "小雨Rain"
    token = sandbox.token_for("1001000099")
    assert sandbox.show(token, uid="1001000099").json()["screen_name"] == "新用户小林"
    page = requests.get(sandbox.url("/oauth2/authorize"), params={"client_id": APP_KEY})
    assert page.status_code == 400  # no redirect_uri
    assert (
        "新用户小林"
        in requests.get(
            sandbox.url("/oauth2/authorize"),
            params={"client_id": APP_KEY, "redirect_uri": sandbox_config().redirect_uris[0]},
        ).text
    )


def test_bad_users_are_refused_whole(sandbox):
    response = requests.post(
        sandbox.url("/_sandbox/users"),
        json=[{"idstr": "1001000097", "screen_name": "好"}, {"idstr": "x", "screen_name": "坏"}],
    )
    misspelt = requests.post(
        sandbox.url("/_sandbox/users"), json={"idstr": "1001000002", "follower_count": 1}
    )

    assert response.status_code == 400 and misspelt.status_code == 400
    assert "follower_count" in misspelt.json()["error"]
    assert all(user["idstr"] != "1001000097" for user in sandbox.control("GET", "/users"))


def test_posts_filter_and_picture(sandbox):
    picture = jpeg_bytes((10, 120, 200))
    first = sandbox.token_for("1001000013")
    second = sandbox.token_for("1001000014")
    sandbox.share(first, f"银卡 {LINK}", pic=picture)
    sandbox.share(second, f"普通 {LINK}")

    everyone = sandbox.control("GET", "/posts")
    mine = sandbox.control("GET", "/posts?uid=1001000013")

    assert [post["uid"] for post in everyone] == ["1001000013", "1001000014"]
    assert len(mine) == 1 and mine[0]["screen_name"] == "银卡会员李小姐"
    assert requests.get(mine[0]["pic_url"]).content == picture
    assert everyone[1]["pic_url"] is None
    assert requests.get(sandbox.url("/_sandbox/posts/1/pic")).status_code == 404


def test_expire_and_revoke_by_uid_or_token(sandbox):
    token_a = sandbox.token_for("1001000013")
    token_b = sandbox.token_for("1001000014")

    expired = sandbox.control("POST", "/tokens/expire", {"uid": "1001000013"})
    revoked = sandbox.control("POST", "/tokens/revoke", {"access_token": token_b})

    assert expired == {"count": 1, "tokens": [token_a]}
    assert revoked == {"count": 1, "tokens": [token_b]}
    assert sandbox.show(token_a, uid="1001000013").json()["error_code"] == 21327
    assert sandbox.show(token_b, uid="1001000013").json()["error_code"] == 21332
    assert requests.post(sandbox.url("/_sandbox/tokens/expire"), json={}).status_code == 400


def test_tokens_can_be_issued_directly(sandbox):
    body = sandbox.control("POST", "/tokens", {"uid": "1001000015"})

    assert body["uid"] == "1001000015" and body["expires_in"] == 157679999
    assert sandbox.show(body["access_token"], uid="1001000015").status_code == 200


def test_call_log(sandbox):
    sandbox.exchange("nope")
    token = sandbox.token_for("1001000002")
    sandbox.show(token, uid="1001000002")

    calls = sandbox.control("GET", "/calls")

    assert [(call["method"], call["path"], call["status"]) for call in calls] == [
        ("POST", "/oauth2/access_token", 400),
        ("POST", "/oauth2/authorize", 302),
        ("POST", "/oauth2/access_token", 200),
        ("GET", "/2/users/show.json", 200),
    ]
    assert calls[0]["error_code"] == 21325
    assert calls[0]["params"]["client_secret"] == "***"
    assert calls[-1]["auth"] == "param" and calls[-1]["time"]
    assert sandbox.control("GET", "/calls?limit=1") == calls[-1:]
    assert len(sandbox.control("GET", "/calls?path=/oauth2/")) == 3


def test_reset_clears_activity_and_restores_default_users(sandbox):
    token = sandbox.token_for("1001000002")
    first = sandbox.share(token, f"重置前 {LINK}").json()["id"]
    sandbox.control("POST", "/users", [{"idstr": "1001000002", "followers_count": 1}])
    sandbox.control("POST", "/users", {"idstr": "1001000096", "screen_name": "留下来的人"})
    sandbox.control("POST", "/faults", {"path": "/2/users/", "count": 5})

    assert sandbox.control("POST", "/reset")["ok"] is True

    assert sandbox.control("GET", "/posts") == []
    assert sandbox.control("GET", "/faults") == []
    assert sandbox.control("GET", "/calls") == []
    assert sandbox.show(token, uid="1001000002").json()["error_code"] == 21301
    users = {user["idstr"]: user for user in sandbox.control("GET", "/users")}
    assert users["1001000002"]["followers_count"] == 320
    assert users["1001000002"]["statuses_count"] == 860
    assert "1001000096" in users
    token = sandbox.token_for("1001000002")
    assert sandbox.share(token, f"重置后 {LINK}").json()["id"] > first


def test_timeline_page_shows_posts_newest_first(sandbox):
    token = sandbox.token_for("1001000011")
    sandbox.share(token, f"第一条 {LINK}", pic=jpeg_bytes())
    sandbox.share(token, f"第二条 <b>不是标签</b> {LINK}")

    page = requests.get(sandbox.url("/_sandbox/"))

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "公共时间线" in html and "白金会员陈女士" in html and RIP in html
    assert html.index("第二条") < html.index("第一条")
    assert "&lt;b&gt;不是标签&lt;/b&gt;" in html
    assert f'<a href="{LINK}" rel="nofollow">' in html
    picture = html.split('<img class="pic" src="')[1].split('"')[0]
    assert requests.get(picture).content == jpeg_bytes()


def test_state_survives_a_restart_with_a_data_dir(tmp_path):
    config = sandbox_config(data_dir=str(tmp_path))
    server, base = start_in_thread(config)
    first = Sandbox(server, base)
    picture = jpeg_bytes((0, 160, 90))
    token = first.token_for("1001000014")
    expired = first.token_for("1001000015")
    first.control("POST", "/tokens/expire", {"access_token": expired})
    status = first.share(token, f"重启前 {LINK}", pic=picture).json()
    server.shutdown()

    server, base = start_in_thread(sandbox_config(data_dir=str(tmp_path)))
    try:
        second = Sandbox(server, base)
        assert second.show(token, uid="1001000014").status_code == 200
        assert second.show(expired, uid="1001000015").json()["error_code"] == 21327
        posts = second.control("GET", "/posts")
        assert [post["id"] for post in posts] == [status["id"]]
        assert requests.get(posts[0]["pic_url"]).content == picture
        original = base + urlsplit(status["original_pic"]).path
        assert requests.get(original).content == picture
        assert second.share(token, f"重启前 {LINK}").json()["error_code"] == 20019
        assert second.share(token, f"重启后 {LINK}").json()["id"] > status["id"]
        assert second.control("GET", "/calls")
    finally:
        server.shutdown()
