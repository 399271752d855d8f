"""The join forms of an applicant, consent, and the notification preferences of a member."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.models import Notification, NotificationPreference
from members.models import Member
from tests.badinput.checks import LANGUAGES, assert_sane, reset_rate_limits, speak
from tests.badinput.conftest import FIELD_VALUE, FUZZ, footprint, form_data

pytestmark = pytest.mark.django_db

LANGUAGE = st.sampled_from(LANGUAGES)
JOIN_FORMS = st.sampled_from([
    ("/members/join/invitation/", "code"),
    ("/members/join/membership-number/", "membership_number"),
    ("/members/join/apply/", "message"),
])  # fmt: skip


@FUZZ
@given(form=JOIN_FORMS, value=FIELD_VALUE, language=LANGUAGE)
def test_join_forms(club, form, value, language):
    url, field = form
    reset_rate_limits()
    client = speak(club.client(club.applicant), language)
    before = footprint()
    response = client.post(url, form_data(**{field: value}), follow=True)
    errors = assert_sane(response, before, language=language)
    if field != "message":  # only a real code or number admits; nothing random is one
        assert errors
        assert Member.objects.get(pk=club.applicant.pk).state == Member.State.APPLICANT


@FUZZ
@given(decision=FIELD_VALUE, language=LANGUAGE)
def test_consent_decision(club, decision, language):
    client = speak(club.client(), language)
    response = client.post("/members/consent/", form_data(decision=decision), follow=True)
    assert response.status_code < 500
    client.force_login(club.member.user)  # declining signs out; keep the next example signed in


@FUZZ
@given(muted=FIELD_VALUE, ids=FIELD_VALUE, everything=FIELD_VALUE)
def test_notification_preferences_and_read_marks(club, muted, ids, everything):
    """Nonsense is ignored and never stored; only a NUL character is refused (400, said so)."""
    client = club.client()
    response = client.post("/notifications/preferences/", form_data(muted=muted), follow=True)
    assert response.status_code in (200, 400)
    kinds = set(NotificationPreference.objects.values_list("kind", flat=True))
    assert kinds <= set(Notification.Kind.values)
    response = client.post(
        "/notifications/read/", form_data(id=ids), HTTP_ACCEPT="application/json"
    )
    assert response.status_code in (200, 400)
    assert ("unread" if response.status_code == 200 else "message") in response.json()
    response = client.post("/notifications/read/", form_data(all=everything), follow=True)
    assert response.status_code in (200, 400)
