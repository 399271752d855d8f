"""Fixtures for sharing: members holding a real sandbox token, a demo club, sandbox helpers."""

from __future__ import annotations

import pytest
import requests

from community import demo
from community.models import ActivityPage, GatedPage
from community.models_participation import Registration
from core import crypto
from members.models import Member
from tests.factories import MemberFactory, standard_tiers


class Sandbox:
    """The running Weibo sandbox, seen through its control API."""

    def __init__(self, base: str) -> None:
        self.base = base

    def token_for(self, uid: str) -> str:
        response = requests.post(f"{self.base}/_sandbox/tokens", json={"uid": uid}, timeout=5)
        response.raise_for_status()
        return response.json()["access_token"]

    def posts(self, uid: str | None = None) -> list[dict]:
        params = {"uid": uid} if uid else {}
        return requests.get(f"{self.base}/_sandbox/posts", params=params, timeout=5).json()

    def pic(self, post_id) -> bytes:
        return requests.get(f"{self.base}/_sandbox/posts/{post_id}/pic", timeout=5).content

    def fault(self, **spec) -> None:
        spec.setdefault("path", "/2/statuses/share.json")
        requests.post(f"{self.base}/_sandbox/faults", json=spec, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.base}/_sandbox/faults", timeout=5)

    def expire_tokens(self, uid: str) -> None:
        requests.post(f"{self.base}/_sandbox/tokens/expire", json={"uid": uid}, timeout=5)

    def set_user(self, **fields) -> None:
        requests.post(f"{self.base}/_sandbox/users", json=fields, timeout=5).raise_for_status()


@pytest.fixture
def sandbox(weibo_sandbox) -> Sandbox:
    return Sandbox(weibo_sandbox)


@pytest.fixture
def club(db):
    """Tiers and the demo items (activities are shareable)."""
    tiers = standard_tiers()
    demo.load()
    pages = {page.slug: page.specific for page in GatedPage.objects.all()}
    return {"tiers": tiers, "pages": pages}


def make_sharer(sandbox: Sandbox, *, uid: str = "1001000012", tier=None, followers=2316) -> Member:
    token = sandbox.token_for(uid)
    return MemberFactory(
        tier=tier,
        weibo_uid=uid,
        weibo_screen_name=f"微博用户{uid[-2:]}",
        weibo_followers=followers,
        weibo_token_encrypted=crypto.encrypt(token),
        weibo_token_state=Member.TokenState.VALID,
    )


def register(member: Member, activity: ActivityPage) -> Registration:
    return Registration.objects.create(
        activity=activity, member=member, state=Registration.State.REGISTERED
    )


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    """Admin tests act as staff who already passed TOTP (tests/members covers the login)."""
    settings.STAFF_REQUIRE_MFA = False
