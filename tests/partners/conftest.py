"""Fixtures of the partner tests: a partner with a key, a signing client, linked members."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from loyalty import services
from loyalty.models import Partner, PartnerLink
from partners import signing
from partners.services import partner_key_issue
from tests.factories import MemberFactory, StaffFactory
from tests.loyalty.conftest import policy, staff_mfa_not_required, tiers  # noqa: F401

API = "/api/partner/v1"


class PartnerClient:
    """Signs every request as a partner would (``partners.signing``)."""

    def __init__(self, key_id: str, secret: str, client: Client | None = None):
        self.key_id, self.secret = key_id, secret
        self.client = client or Client()

    def headers(self, method: str, path: str, body: bytes = b"", query: str = "", **extra):
        headers = signing.sign_headers(
            key_id=self.key_id, secret=self.secret, method=method, path=path, query=query,
            body=body,
        )  # fmt: skip
        headers.update(extra)
        return headers

    def get(self, path: str, **extra):
        full = API + path
        return self.client.get(full, headers=self.headers("GET", full, **extra))

    def post(self, path: str, payload: dict[str, Any] | None = None, *, key: str | None = None,
             **extra):  # fmt: skip
        full = API + path
        body = json.dumps(payload or {}).encode()
        headers = self.headers("POST", full, body, **extra)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(full, data=body, content_type="application/json", headers=headers)


def make_partner(**fields) -> Partner:
    defaults = {
        "name": "星河酒店",
        "code": "xinghe",
        "shared_fields": ["display_name", "tier"],
        "purpose": "核对住客会员身份并累积积分",
        "accrual_pending_hours": 72,
        "hold_minutes": 30,
    }
    defaults.update(fields)
    return Partner.objects.create(**defaults)


@pytest.fixture
def staff(db):
    return StaffFactory(is_superuser=True)


@pytest.fixture
def partner(db):
    return make_partner()


@pytest.fixture
def partner_client(partner, staff):
    key, secret = partner_key_issue(partner=partner, actor=staff)
    return PartnerClient(key.key_id, secret)


def link_member(partner: Partner, member) -> PartnerLink:
    """Link through the real services: the partner's code, the member's confirmation."""
    request, code = services.partner_link_request_create(partner=partner)
    text = services.partner_consent_text(partner)
    return services.partner_link_confirm(
        member=member, code=code, consent_sha256=PartnerLink.digest(text), ip="10.0.0.1"
    )


@pytest.fixture
def member(tiers, policy):  # noqa: F811
    return MemberFactory(tier=tiers["regular"])


@pytest.fixture
def linked(partner, member) -> PartnerLink:
    return link_member(partner, member)
