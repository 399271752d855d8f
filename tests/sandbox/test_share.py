"""statuses/share: success with and without a picture, and each rule in Weibo's order."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import APP_KEY, APP_NAME, HOURLY_LIMIT, LINK, RIP, jpeg_bytes

MB = 1024 * 1024


@pytest.fixture
def token(sandbox):
    return sandbox.token_for("1001000011")


def test_share_with_picture_returns_the_status_and_keeps_the_bytes(sandbox, token):
    picture = jpeg_bytes()
    before = time.time()

    response = sandbox.share(token, f"周末福利上线啦 {LINK}", pic=picture)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    status = response.json()
    for key in ("created_at", "id", "idstr", "mid", "text", "source", "user"):
        assert key in status
    assert isinstance(status["id"], int) and len(str(status["id"])) == 16
    assert status["idstr"] == status["mid"] == str(status["id"])
    assert status["text"] == f"周末福利上线啦 {LINK}"
    assert status["source"] == f'<a href="http://club.test/" rel="nofollow">{APP_NAME}</a>'
    assert status["created_at"].endswith(time.strftime("%Y", time.gmtime(before + 8 * 3600)))
    assert status["user"]["idstr"] == "1001000011"
    assert status["user"]["statuses_count"] == 3411
    assert (status["reposts_count"], status["comments_count"], status["attitudes_count"]) == (
        0,
        0,
        0,
    )
    assert status["visible"] == {"type": 0, "list_id": 0}
    for key in ("thumbnail_pic", "bmiddle_pic", "original_pic"):
        served = requests.get(status[key])
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
        assert served.content == picture

    posts = sandbox.control("GET", "/posts?uid=1001000011")
    assert len(posts) == 1
    post = posts[0]
    assert (post["id"], post["uid"], post["rip"], post["app_key"]) == (
        status["id"],
        "1001000011",
        RIP,
        APP_KEY,
    )
    assert post["pic"] == {
        "filename": "card.jpg",
        "content_type": "image/jpeg",
        "ext": "jpg",
        "size": len(picture),
        "sha256": hashlib.sha256(picture).hexdigest(),
    }
    assert requests.get(post["pic_url"]).content == picture


def test_share_without_picture_is_form_encoded(sandbox, token):
    response = requests.post(
        sandbox.url("/2/statuses/share.json"),
        data={"access_token": token, "status": f"来看看 {LINK}", "rip": RIP},
    )

    assert response.status_code == 200, response.text
    status = response.json()
    assert "original_pic" not in status and status["pic_urls"] == []
    assert sandbox.control("GET", "/posts")[0]["pic"] is None


def test_png_and_gif_are_accepted_by_magic_bytes(sandbox, token):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    gif = b"GIF89a" + b"\x00" * 32

    first = sandbox.share(token, f"一 {LINK}", pic=png, filename="x.bin")
    second = sandbox.share(token, f"二 {LINK}", pic=gif, filename="y.jpg")

    assert first.status_code == second.status_code == 200
    assert requests.get(first.json()["original_pic"]).headers["Content-Type"] == "image/png"
    assert requests.get(second.json()["original_pic"]).headers["Content-Type"] == "image/gif"


def test_status_ids_grow(sandbox, token):
    ids = [sandbox.share(token, f"第{n}条 {LINK}").json()["id"] for n in range(3)]

    assert ids == sorted(ids) and len(set(ids)) == 3


def test_token_is_checked_first(sandbox):
    response = sandbox.share(None, None, rip=None)

    assert response.status_code == 401
    assert response.json()["error_code"] == 21301


@pytest.mark.parametrize(
    ("status", "rip", "name"), [(None, RIP, "status"), ("", RIP, "status"), (LINK, None, "rip")]
)
def test_missing_status_or_rip_is_10016(sandbox, token, status, rip, name):
    response = sandbox.share(token, status, rip=rip)

    assert response.status_code == 400
    assert response.json() == {
        "error": f"miss required parameter ({name}), see doc for more info.",
        "error_code": 10016,
        "request": "/2/statuses/share.json",
    }


def test_rip_must_be_an_ip_address(sandbox, token):
    response = sandbox.share(token, f"看看 {LINK}", rip="1.2.3.4, 5.6.7.8")

    assert response.status_code == 400 and response.json()["error_code"] == 10017


def test_picture_that_is_not_an_image_is_20005(sandbox, token):
    response = sandbox.share(token, f"看看 {LINK}", pic=b"<html>not a picture</html>")

    assert response.status_code == 400
    assert response.json()["error_code"] == 20005


def test_picture_of_five_megabytes_is_20006(sandbox, token):
    just_under = b"\xff\xd8\xff" + b"\x00" * (5 * MB - 4)
    five = b"\xff\xd8\xff" + b"\x00" * (5 * MB - 3)

    too_big = sandbox.share(token, f"大图 {LINK}", pic=five)
    fits = sandbox.share(token, f"大图 {LINK}", pic=just_under)

    assert too_big.status_code == 400 and too_big.json()["error_code"] == 20006
    assert fits.status_code == 200


def test_picture_type_is_checked_before_the_text(sandbox, token):
    response = sandbox.share(token, "没有链接的文字", pic=b"plain text")

    assert response.json()["error_code"] == 20005


def test_topic_is_refused(sandbox, token):
    response = sandbox.share(token, f"#会员日# 福利来了 {LINK}")

    assert response.status_code == 400
    assert response.json() == {
        "error": "topic is not allowed!",
        "error_code": 10017,
        "request": "/2/statuses/share.json",
    }


def test_hash_inside_a_url_is_not_a_topic(sandbox, token):
    response = sandbox.share(token, f"看看 {LINK}#top 还有 http://club.test/a#b 哦#")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "status",
    [
        "没有链接的分享",
        "别人的链接 http://evil.test/p/1",
        "像但不是 http://evilclub.test/p/1",
        "也不是 http://club.test.evil.test/p/1",
        "编码两次 http%3A%2F%2Fclub.test%2Fp%2F1",
    ],
)
def test_text_without_a_safe_domain_link_is_10017(sandbox, token, status):
    response = sandbox.share(token, status)

    assert response.status_code == 400
    assert response.json() == {
        "error": "text not find domain!",
        "error_code": 10017,
        "request": "/2/statuses/share.json",
    }


@pytest.mark.parametrize(
    "link", ["https://club.test/p/1", "http://m.club.test:8443/p/1", "HTTP://CLUB.TEST/p"]
)
def test_safe_domain_subdomains_and_ports_are_accepted(sandbox, token, link):
    assert sandbox.share(token, f"好物 {link}").status_code == 200


def test_topic_is_checked_before_the_domain(sandbox, token):
    assert sandbox.share(token, "#话题# 无链接").json()["error"] == "topic is not allowed!"


@pytest.mark.parametrize(
    ("status", "accepted"),
    [
        # 129 Chinese characters + space (0.5) + URL (10) = 139.5 -> 140
        ("好" * 129 + " " + LINK, True),
        # 130 + 0.5 + 10 = 140.5 -> 141
        ("好" * 130 + " " + LINK, False),
        # 140 Chinese characters are fine alone, not with the required link
        ("好" * 140 + LINK, False),
        # any URL counts 10, however long
        ("好" * 130 + "http://club.test/" + "a" * 300, True),
        # ASCII counts half: 260 letters = 130, + URL 10 = 140
        ("a" * 260 + LINK, True),
        ("a" * 261 + LINK, False),
    ],
)
def test_length_counting_20012(sandbox, token, status, accepted):
    response = sandbox.share(token, status)

    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert response.json() == {
            "error": "Text too long, please input text less than 140 characters!",
            "error_code": 20012,
            "request": "/2/statuses/share.json",
        }


def test_repeating_the_previous_text_is_20019(sandbox, token):
    text = f"限时兑换 {LINK}"
    assert sandbox.share(token, text).status_code == 200

    again = sandbox.share(token, text)

    assert again.status_code == 400
    assert again.json() == {
        "error": "repeat content!",
        "error_code": 20019,
        "request": "/2/statuses/share.json",
    }
    other_user = sandbox.token_for("1001000012")
    assert sandbox.share(other_user, text).status_code == 200
    assert sandbox.share(token, f"另一条 {LINK}").status_code == 200
    assert sandbox.share(token, text).status_code == 200


def test_hourly_share_cap_is_10024(sandbox, token, monkeypatch):
    for n in range(HOURLY_LIMIT):
        assert sandbox.share(token, f"第{n}条 {LINK}").status_code == 200

    capped = sandbox.share(token, f"超出 {LINK}")

    assert capped.status_code == 403
    assert capped.json() == {
        "error": "User requests for /statuses/share out of rate limit!",
        "error_code": 10024,
        "request": "/2/statuses/share.json",
    }
    assert sandbox.share(sandbox.token_for("1001000012"), f"别人 {LINK}").status_code == 200
    later = time.time() + 3601
    monkeypatch.setattr(sandbox.server.store, "clock", lambda: later)
    assert sandbox.share(token, f"一小时后 {LINK}").status_code == 200


def test_share_is_post_only(sandbox, token):
    response = requests.get(sandbox.url("/2/statuses/share.json"), params={"access_token": token})

    assert response.json()["error_code"] == 10021


def test_unknown_api_is_10020(sandbox):
    response = requests.get(sandbox.url("/2/statuses/update.json"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "Request Api not found!",
        "error_code": 10020,
        "request": "/2/statuses/update.json",
    }


def test_checks_run_in_weibo_order(sandbox, token, monkeypatch):
    no_status_bad_pic = sandbox.share(token, None, pic=b"not an image")
    long_without_link = sandbox.share(token, "好" * 200)
    long_with_topic = sandbox.share(token, "#话题#" + "好" * 200)

    assert no_status_bad_pic.json()["error_code"] == 10016
    assert long_without_link.json()["error"] == "text not find domain!"
    assert long_with_topic.json()["error"] == "topic is not allowed!"

    text = f"最后一条 {LINK}"
    for n in range(HOURLY_LIMIT - 1):
        assert sandbox.share(token, f"第{n}条 {LINK}").status_code == 200
    assert sandbox.share(token, text).status_code == 200
    assert sandbox.share(token, "好" * 200 + LINK).json()["error_code"] == 20012
    assert sandbox.share(token, text).json()["error_code"] == 20019
    assert sandbox.share(token, f"新的 {LINK}").json()["error_code"] == 10024


def test_concurrent_shares_cannot_pass_the_hourly_cap(sandbox, token):
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda n: sandbox.share(token, f"并发{n} {LINK}"), range(8)))

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * HOURLY_LIMIT + [403] * (8 - HOURLY_LIMIT)
    assert len(sandbox.control("GET", "/posts")) == HOURLY_LIMIT
