"""users/show is Weibo's answer, not ours: a profile of someone else is refused, and any JSON
shape of the fields is stored sensibly, through the real login callback and the sandbox."""

from __future__ import annotations

import itertools
import math

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members.models import AdmissionSettings, Member
from tests.factories import standard_tiers
from tests.members.weibo_flow import accept_consent, weibo_login

pytestmark = pytest.mark.django_db

# Each test client comes from an address of its own: login attempts are rate-limited per address.
_addresses = (f"10.9.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture
def client():
    return Client(REMOTE_ADDR=next(_addresses))


SMALL_ACCOUNT = "1001000002"


@pytest.fixture(autouse=True)
def club(weibo_sandbox, landing_site):
    tiers = standard_tiers()
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.criteria_enabled = False
    settings_.save()
    return tiers


def set_user(base: str, uid: str, **fields) -> None:
    response = requests.post(
        f"{base}/_sandbox/users", json={"idstr": uid, "screen_name": f"用户{uid[-3:]}", **fields},
        timeout=5,
    )  # fmt: skip
    response.raise_for_status()


def test_a_profile_of_another_account_is_refused_and_nothing_is_kept(client, weibo_sandbox):
    # Weibo (or whatever answers in its place) describes someone else than the token's owner.
    set_user(weibo_sandbox, SMALL_ACCOUNT, show_override={"idstr": "1001000001", "id": 1001000001})
    response = weibo_login(client, uid=SMALL_ACCOUNT)
    html = response.content.decode()
    assert "微博返回的账户与您授权的账户不一致" in html
    assert not response.wsgi_request.user.is_authenticated
    assert not SocialAccount.objects.exists()
    assert not Member.objects.exists()
    assert "weibo_login" not in client.session


def test_a_profile_without_idstr_is_the_tokens_account(client, weibo_sandbox):
    set_user(weibo_sandbox, SMALL_ACCOUNT, show_override={"idstr": None})
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    assert Member.objects.get().weibo_uid == SMALL_ACCOUNT


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (0, 0),  # a verified person: not "none"
        (3, 3),
        (-1, -1),
        ("220", 220),
        (7.0, 7),
        (None, -1),
        ("", -1),
        ("abc", -1),
        (2.5, -1),
        ([1], -1),
        ({"type": 1}, -1),
        (True, -1),
        (10**12, -1),
    ],
)
def test_verified_type_is_stored_as_weibo_sent_it(client, weibo_sandbox, sent, stored):
    set_user(weibo_sandbox, SMALL_ACCOUNT, show_override={"verified_type": sent})
    response = weibo_login(client, uid=SMALL_ACCOUNT)
    assert response.status_code == 200
    accept_consent(client)
    assert Member.objects.get().weibo_verified_type == stored


def test_a_returning_member_keeps_a_faithful_verified_type(client, weibo_sandbox):
    set_user(weibo_sandbox, SMALL_ACCOUNT, show_override={"verified_type": 3})
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    client.logout()
    set_user(weibo_sandbox, SMALL_ACCOUNT, show_override={"verified_type": 0, "verified": True})
    weibo_login(client, uid=SMALL_ACCOUNT)  # refreshed during the callback itself
    member = Member.objects.get()
    assert member.weibo_verified_type == 0
    assert member.weibo_verified is True


# --- Any shape ------------------------------------------------------------------------------

PROFILE_FIELDS = [
    "screen_name", "name", "location", "description", "url", "profile_image_url", "avatar_large",
    "avatar_hd", "gender", "followers_count", "friends_count", "statuses_count", "created_at",
    "verified", "verified_type", "verified_reason", "province", "city", "status", "lang",
]  # fmt: skip
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "0",
            "-1",
            "12345",
            "true",
            "false",
            "Fri Aug 28 00:00:00 +0800 2009",
            "Mon Feb 30 99:99:99 +9999 2009",
            "\x00名字",
            "m",
            "f",
        ]
    )  # fmt: skip
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),  # fmt: skip
    max_leaves=5,
)
profiles = st.dictionaries(
    st.sampled_from(PROFILE_FIELDS), json_value, max_size=len(PROFILE_FIELDS)
)
_uids = itertools.count(1001200000)


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and value.isascii():
        return int(value.strip())
    return None


@settings(
    max_examples=30, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(profile=profiles)
def test_any_profile_shape_logs_in_without_an_error_and_is_stored_sensibly(weibo_sandbox, profile):
    uid = str(next(_uids))
    set_user(weibo_sandbox, uid, show_override=profile)
    # A fresh browser from an address of its own; the test client re-raises any server error,
    # so a 500 fails here.
    client = Client(REMOTE_ADDR=next(_addresses))

    response = weibo_login(client, uid=uid)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/members/consent/"
    response = accept_consent(client)
    assert response.status_code == 200
    member = Member.objects.get(weibo_uid=uid)

    client.logout()
    response = weibo_login(client, uid=uid)  # the returning member: refreshed in the callback
    assert response.status_code == 200
    member.refresh_from_db()

    sent = _whole(profile.get("verified_type", -1))
    expected = sent if sent is not None and -32768 <= sent <= 32767 else -1
    assert member.weibo_verified_type == expected
    for count in (member.weibo_followers, member.weibo_friends, member.weibo_statuses):
        assert 0 <= count <= 2**31 - 1
    name = profile.get("screen_name", f"用户{uid[-3:]}")
    if isinstance(name, str):
        assert member.weibo_screen_name == name.replace("\x00", "")[:100]
    else:
        assert isinstance(member.weibo_screen_name, str)
    assert member.weibo_gender in ("", "m", "f", "n")
    assert member.weibo_verified in (True, False)
    assert member.weibo_created_at is None or member.weibo_created_at.tzinfo is not None
    assert SocialAccount.objects.get(uid=uid).user_id == member.user_id
