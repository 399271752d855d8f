"""Staff sign in with a password and TOTP; members cannot use the password form."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_staff_without_totp_must_enrol_before_using_the_admin(client, settings):
    settings.STAFF_REQUIRE_MFA = True
    staff = StaffFactory()
    staff.set_password("a-long-staff-password")
    staff.save()
    response = client.post(
        "/accounts/login/", {"login": staff.username, "password": "a-long-staff-password"}
    )
    assert response.status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


def test_staff_with_totp_is_asked_for_the_code_and_then_reaches_the_admin(client, settings):
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import (
        TOTP,
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
    )

    settings.STAFF_REQUIRE_MFA = True
    staff = StaffFactory()
    staff.set_password("a-long-staff-password")
    staff.save()
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    response = client.post(
        "/accounts/login/", {"login": staff.username, "password": "a-long-staff-password"}
    )
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302  # not signed in yet
    code = format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff).exists()
    assert client.get("/admin/").status_code == 200
