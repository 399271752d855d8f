"""Reward redemption (form and JSON), ledger filters and the staff points adjustment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.models import PointsAccount
from tests.badinput.checks import (
    LANGUAGES,
    assert_sane,
    page_answered,
    reset_rate_limits,
    speak,
)
from tests.badinput.conftest import FIELD_VALUE, FUZZ, NASTY_TEXT, footprint, form_data

pytestmark = pytest.mark.django_db

LANGUAGE = st.sampled_from(LANGUAGES)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
AMOUNT = st.one_of(FIELD_VALUE, st.integers().map(str), st.floats().map(str))


@FUZZ
@given(key=FIELD_VALUE, name=FIELD_VALUE, phone=FIELD_VALUE, address=FIELD_VALUE,
       language=LANGUAGE)  # fmt: skip
def test_redeem_form(club, key, name, phone, address, language):
    reset_rate_limits()
    client = speak(club.client(), language)
    data = form_data(idempotency_key=key, shipping_name=name, shipping_phone=phone,
                     shipping_address=address)  # fmt: skip
    before = footprint()
    response = client.post(f"/points/rewards/{club.reward.pk}/redeem/", data, follow=True)
    assert_sane(response, before, language=language)
    assert PointsAccount.objects.get(member=club.member).balance >= 0


@FUZZ
@given(key=HEADER_TEXT, name=NASTY_TEXT, address=NASTY_TEXT, reward=st.integers(0, 10**20),
       language=LANGUAGE)  # fmt: skip
def test_redeem_json(club, key, name, address, reward, language):
    reset_rate_limits()
    client = speak(club.client(), language)
    before = footprint()
    response = client.post(
        f"/points/rewards/{club.reward.pk}/redeem/",
        {"shipping_name": name, "shipping_phone": "13800000000", "shipping_address": address},
        HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY=key,
    )  # fmt: skip
    errors = assert_sane(response, before, language=language)
    assert response["Content-Type"].startswith("application/json")
    if errors:
        assert response.status_code in (400, 403, 409, 422, 429), response.status_code
    other = client.post(f"/points/rewards/{reward}/redeem/", HTTP_ACCEPT="application/json")
    assert other.status_code < 500


@FUZZ
@given(kind=FIELD_VALUE, bucket=FIELD_VALUE, date_from=FIELD_VALUE, date_to=FIELD_VALUE,
       after=FIELD_VALUE, page=FIELD_VALUE)  # fmt: skip
def test_ledger_and_redemption_filters(club, kind, bucket, date_from, date_to, after, page):
    client = club.client()
    query = form_data(kind=kind, bucket=bucket, date_from=date_from, date_to=date_to, after=after)
    page_answered(client.get("/points/history/", query))
    page_answered(client.get("/points/redemptions/", form_data(p=page)))
    page_answered(client.get("/points/rewards/", form_data(page=page)))


@FUZZ
@given(amount=AMOUNT, reason=FIELD_VALUE, counts=FIELD_VALUE, key=FIELD_VALUE)
def test_staff_points_adjustment(club, amount, reason, counts, key):
    """The admin speaks the staff member's admin language (Chinese here), not the site cookie."""
    reset_rate_limits()
    client = club.client(club.staff)
    data = form_data(amount=amount, reason=reason, counts_for_tier=counts, idempotency_key=key)
    before = footprint()
    response = client.post(f"/admin/points/accounts/{club.member.pk}/adjust/", data, follow=True)
    assert_sane(response, before, language="zh-hans")
    assert PointsAccount.objects.get(member=club.member).balance >= 0
