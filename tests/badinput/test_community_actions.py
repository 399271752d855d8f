"""Comments, reports, offer claims, activity registration and check-in codes under bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.badinput.checks import LANGUAGES, assert_sane, reset_rate_limits, speak
from tests.badinput.conftest import FIELD_VALUE, FUZZ, footprint, form_data

pytestmark = pytest.mark.django_db

LANGUAGE = st.sampled_from(LANGUAGES)
REASONS = st.one_of(FIELD_VALUE, st.sampled_from(["spam", "abuse", "other"]))
ANY_ID = st.one_of(st.integers(min_value=0, max_value=10**30), st.just(1))


def post(client, url: str, data: dict, language: str):
    reset_rate_limits()
    before = footprint()
    response = speak(client, language).post(url, data, follow=True)
    return response, before


@FUZZ
@given(body=FIELD_VALUE, parent=FIELD_VALUE, language=LANGUAGE)
def test_comment_and_reply(club, body, parent, language):
    url = f"/interaction/items/{club.post.pk}/comments/"
    response, before = post(club.client(), url, form_data(body=body, parent=parent), language)
    assert_sane(response, before, language=language)


@FUZZ
@given(body=FIELD_VALUE, language=LANGUAGE)
def test_comment_edit(club, body, language):
    url = f"/interaction/comments/{club.comment.pk}/edit/"
    response, before = post(club.client(club.other), url, form_data(body=body), language)
    assert_sane(response, before, language=language)


@FUZZ
@given(reason=REASONS, detail=FIELD_VALUE, language=LANGUAGE)
def test_comment_report(club, reason, detail, language):
    url = f"/interaction/comments/{club.comment.pk}/report/"
    data = form_data(reason=reason, detail=detail)
    response, before = post(club.client(), url, data, language)
    assert_sane(response, before, language=language)


@FUZZ
@given(key=FIELD_VALUE, language=LANGUAGE)
def test_offer_claim(club, key, language):
    url = f"/community/offers/{club.offer.pk}/claim/"
    response, before = post(club.client(), url, form_data(key=key), language)
    assert_sane(response, before, language=language)


@FUZZ
@given(junk=FIELD_VALUE, registration=ANY_ID, next_=FIELD_VALUE, language=LANGUAGE)
def test_activity_register_and_cancel(club, junk, registration, next_, language):
    url = f"/community/activities/{club.activity.pk}/register/"
    response, before = post(club.client(), url, form_data(seats=junk, member=junk), language)
    assert_sane(response, before, language=language)
    url = f"/community/registrations/{registration}/cancel/"
    response, before = post(club.client(), url, form_data(next=next_), language)
    assert_sane(response, before, language=language)


@FUZZ
@given(code=FIELD_VALUE, language=LANGUAGE)
def test_check_in_code(club, code, language):
    """Staff scanning junk (or typing it) at the door: refused, nothing written."""
    url = f"/community/checkin/{club.activity.pk}/"
    response, before = post(club.client(club.staff), url, form_data(code=code), language)
    errors = assert_sane(response, before, language=language)
    assert errors, "a guessed card code was accepted"
