"""Admin tests act as staff who already passed TOTP; tests/members/test_staff_login.py covers it."""

import pytest


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False
