"""Login and redemption are rate-limited: the limit answers clearly and nothing is charged.

tests/community/test_interaction.py already covers comment posting. The limits are fixed
windows in Redis (``core.ratelimit``); a test may straddle a window boundary, so each one
hammers until the limit answers (at most twice the limit) instead of counting exactly.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

from loyalty.models import PointsAccount, PointsEntry, Redemption
from loyalty.views import REDEEM_RATE_LIMIT
from members.models import InvitationCode, Member
from members.services import invitation_batch_create
from members.weibo.views import LOGIN_LIMIT_PER_MINUTE
from tests.factories import MemberFactory, StaffFactory
from tests.loyalty.conftest import make_reward

pytestmark = pytest.mark.django_db

WEIBO_LIMIT_TEXT = "登录尝试过于频繁，请稍后再试。"
REDEEM_LIMIT_TEXT = "操作太频繁，请稍后再试。"
ADMISSION_LIMIT_TEXT = "尝试次数过多，请 10 分钟后再试。"


@pytest.fixture(autouse=True)
def limits_forgotten_afterwards():
    """The counters live in Redis, which outlives a test: leave none behind for other tests."""
    yield
    redis = cache._cache.get_client(write=True)
    for pattern in ("*ratelimit:*", "*allauth:rl:*"):
        for key in redis.scan_iter(match=f"{settings.REDIS_PREFIX}:{pattern}"):
            redis.delete(key)


def hammer(send, is_limited, limit: int):
    """Call ``send`` until ``is_limited(response)``; return (answers before, limited answer)."""
    before = []
    for _attempt in range(2 * limit + 2):
        response = send(len(before))
        if is_limited(response):
            return before, response
        before.append(response)
    raise AssertionError(f"no limit after {2 * limit + 2} attempts")


def test_weibo_login_start_is_limited_per_address(client, weibo_sandbox):
    before, limited = hammer(
        lambda _n: client.post("/accounts/weibo/login/", REMOTE_ADDR="198.51.100.7"),
        lambda r: r.status_code == 429, LOGIN_LIMIT_PER_MINUTE,
    )  # fmt: skip
    assert len(before) >= LOGIN_LIMIT_PER_MINUTE
    assert all(r.status_code == 302 for r in before)
    assert WEIBO_LIMIT_TEXT in limited.content.decode()
    # Another address is not affected.
    assert client.post("/accounts/weibo/login/", REMOTE_ADDR="198.51.100.8").status_code == 302


def test_weibo_callback_is_limited_per_address(client, weibo_sandbox):
    before, limited = hammer(
        lambda n: client.get("/accounts/weibo/login/callback/",
                             {"code": f"guess{n}", "state": "guess"}, REMOTE_ADDR="198.51.100.9"),
        lambda r: r.status_code == 429, LOGIN_LIMIT_PER_MINUTE,
    )  # fmt: skip
    assert len(before) >= LOGIN_LIMIT_PER_MINUTE
    assert WEIBO_LIMIT_TEXT in limited.content.decode()
    assert not Member.objects.exists()


def test_staff_password_login_locks_after_failures(client):
    user = StaffFactory(username="locked-staffer")
    user.set_password("a-long-password-1")
    user.save()
    for _attempt in range(5):
        client.post("/accounts/login/", {"login": "locked-staffer", "password": "wrong-password"})
    response = client.post("/accounts/login/", {"login": "locked-staffer",
                                                "password": "a-long-password-1"})  # fmt: skip
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session  # even the right password waits now
    html = response.content.decode()
    assert "登录失败次数过多，请稍后重试。" in html, html[-2000:]
    assert get_user_model().objects.get(pk=user.pk).last_login is None


def test_redemption_is_limited_and_the_limited_attempt_charges_nothing(client, rich_member):
    reward = make_reward(cost=1)
    client.force_login(rich_member.user)
    url = f"/points/rewards/{reward.pk}/redeem/"

    def redeem(n):
        return client.post(url, HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY=f"try-{n}")

    before, limited = hammer(redeem, lambda r: r.status_code == 429, REDEEM_RATE_LIMIT)
    assert len(before) >= REDEEM_RATE_LIMIT
    assert all(r.status_code == 201 for r in before)
    assert json.loads(limited.content) == {"error": "rate_limited", "message": REDEEM_LIMIT_TEXT}
    charged = len(before)
    assert Redemption.objects.count() == charged
    assert PointsEntry.objects.filter(amount__lt=0).count() == charged
    assert PointsAccount.objects.get(member=rich_member).balance == 1000 - charged
    reward.refresh_from_db()
    assert reward.issued == charged

    # The form answers with the message on the reward page, and still charges nothing.
    response = client.post(url, {"idempotency_key": "form-try"}, follow=True)
    assert REDEEM_LIMIT_TEXT in response.content.decode()
    assert Redemption.objects.count() == charged


def test_invitation_code_guessing_is_limited_even_for_a_valid_code(client, tiers):
    applicant = MemberFactory(state=Member.State.APPLICANT, tier=None, joined_at=None)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.force_login(applicant.user)
    hammer(
        lambda n: client.post("/members/join/invitation/", {"code": f"WRONG{n:04d}"}, follow=True),
        lambda r: ADMISSION_LIMIT_TEXT in r.content.decode(), 10,
    )  # fmt: skip
    response = client.post("/members/join/invitation/", {"code": code}, follow=True)
    assert ADMISSION_LIMIT_TEXT in response.content.decode()
    applicant.refresh_from_db()
    assert applicant.state == Member.State.APPLICANT
    assert InvitationCode.objects.get(code=code).uses == 0
