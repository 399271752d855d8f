"""users/show: field set, formats, lookups, errors, avatars, and the seeded roster."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime

import pytest
import requests
from PIL import Image

FIELDS = [
    "id", "idstr", "screen_name", "name", "province", "city", "location", "description", "url",
    "profile_image_url", "profile_url", "domain", "weihao", "gender", "followers_count",
    "friends_count", "statuses_count", "favourites_count", "created_at", "following",
    "allow_all_act_msg", "geo_enabled", "verified", "verified_type", "verified_reason", "remark",
    "allow_all_comment", "avatar_large", "avatar_hd", "follow_me", "online_status",
    "bi_followers_count", "lang", "block_word", "star", "mbtype", "mbrank",
]  # fmt: skip
WEIBO_TIME = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d\d \d\d:\d\d:\d\d \+0800 \d{4}"
)


@pytest.fixture
def token(sandbox):
    return sandbox.token_for("1001000002")


def test_users_show_has_weibo_field_set_and_types(sandbox, token):
    response = sandbox.show(token, uid="1001000001")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert '": ' not in response.text  # compact like Weibo
    user = response.json()
    assert list(user) == FIELDS
    assert "email" not in user and "status" not in user
    assert user["id"] == 1001000001 and user["idstr"] == "1001000001"
    assert user["screen_name"] == user["name"] == "时尚博主Lily"
    assert user["profile_url"] == "u/1001000001"
    assert user["followers_count"] == 1250000
    assert user["verified"] is True and user["verified_type"] == 0
    assert user["verified_reason"] == "知名时尚博主"
    assert user["gender"] == "f" and user["location"] == "上海 静安区"
    assert user["lang"] == "zh-cn"
    assert user["created_at"] == "Fri Aug 28 00:00:00 +0800 2009"
    for key in ("following", "follow_me", "allow_all_act_msg", "geo_enabled", "allow_all_comment"):
        assert isinstance(user[key], bool)
    for key in ("province", "city", "url", "domain", "weihao", "remark"):
        assert isinstance(user[key], str)


def test_unverified_user_has_verified_type_minus_one(sandbox, token):
    user = sandbox.show(token, uid="1001000002").json()

    assert user["verified"] is False and user["verified_type"] == -1
    assert (user["followers_count"], user["friends_count"], user["statuses_count"]) == (
        320,
        410,
        860,
    )
    assert WEIBO_TIME.fullmatch(user["created_at"]) and user["created_at"].endswith("2014")


def test_lookup_by_screen_name(sandbox, token):
    response = sandbox.show(token, screen_name="小雨Rain")

    assert response.status_code == 200 and response.json()["idstr"] == "1001000002"


@pytest.mark.parametrize("params", [{}, {"uid": "1001000001", "screen_name": "小雨Rain"}])
def test_exactly_one_of_uid_and_screen_name(sandbox, token, params):
    response = sandbox.show(token, **params)

    assert response.status_code == 400
    assert response.json() == {
        "error": "miss required parameter (uid), see doc for more info.",
        "error_code": 10016,
        "request": "/2/users/show.json",
    }


@pytest.mark.parametrize("params", [{"uid": "1009999999"}, {"screen_name": "没有这个人"}])
def test_unknown_user_is_20003(sandbox, token, params):
    response = sandbox.show(token, **params)

    assert response.status_code == 400
    assert response.json() == {
        "error": "User does not exists!",
        "error_code": 20003,
        "request": "/2/users/show.json",
    }


def test_non_numeric_uid_is_10017(sandbox, token):
    assert sandbox.show(token, uid="abc").json()["error_code"] == 10017


def test_users_show_is_get_only(sandbox, token):
    response = requests.post(
        sandbox.url("/2/users/show.json"), data={"access_token": token, "uid": "1001000002"}
    )

    assert response.json()["error_code"] == 10021


def test_avatar_urls_follow_the_host_header_and_serve_images(sandbox, token):
    host = sandbox.base.removeprefix("http://")
    via_name = requests.get(
        sandbox.url("/2/users/show.json"),
        params={"access_token": token, "uid": "1001000001"},
        headers={"Host": "weibo-sandbox.local:1234"},
    ).json()
    assert via_name["avatar_large"] == "http://weibo-sandbox.local:1234/avatars/1001000001/180.jpg"

    user = sandbox.show(token, uid="1001000001").json()
    assert user["profile_image_url"] == f"http://{host}/avatars/1001000001/50.jpg"
    for key, size in [("profile_image_url", 50), ("avatar_large", 180), ("avatar_hd", 512)]:
        response = requests.get(user[key])
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "JPEG" and image.size == (size, size)
    again = requests.get(user["avatar_large"]).content
    assert again == requests.get(user["avatar_large"]).content
    other = sandbox.show(token, uid="1001000002").json()["avatar_large"]
    assert requests.get(other).content != again


def test_default_avatar_is_a_grey_gif(sandbox, token):
    user = sandbox.show(token, uid="1001000003").json()

    assert user["profile_image_url"].endswith("/avatars/default/default_avatar_male_50.gif")
    assert user["avatar_large"].endswith("/avatars/default/default_avatar_male_180.gif")
    response = requests.get(user["profile_image_url"])
    assert response.headers["Content-Type"] == "image/gif"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (50, 50)
    red, green, blue = image.getpixel((2, 2))
    assert red == green == blue


def test_unknown_avatar_is_404(sandbox):
    assert requests.get(sandbox.url("/avatars/1009999999/50.jpg")).status_code == 404


def test_seeded_roster(sandbox, token):
    expected = {
        "1001000001": "时尚博主Lily",
        "1001000002": "小雨Rain",
        "1001000003": "用户7428351962",
        "1001000004": "路人甲",
        "1001000011": "白金会员陈女士",
        "1001000012": "金卡会员王先生",
        "1001000013": "银卡会员李小姐",
        "1001000014": "普通会员赵同学",
        "1001000015": "申请者周先生",
    }
    for uid, name in expected.items():
        user = sandbox.show(token, uid=uid).json()
        assert user["screen_name"] == name
        assert user["lang"] == "zh-cn" and user["gender"] in ("m", "f")
    for uid in ("1001000021", "1001000022"):
        assert sandbox.show(token, uid=uid).status_code == 200


def test_zombie_account_is_twenty_days_old_and_empty(sandbox, token):
    user = sandbox.show(token, uid="1001000003").json()

    created = datetime.strptime(user["created_at"], "%a %b %d %H:%M:%S %z %Y").timestamp()
    assert abs((time.time() - created) / 86400 - 20) < 0.01
    assert (user["followers_count"], user["friends_count"], user["statuses_count"]) == (
        3,
        1850,
        0,
    )
