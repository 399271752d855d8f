"""Fixtures of the security suite: the club's tiers, one member, one staff user.

Staff act as staff who already passed TOTP (tests/members/test_staff_login.py covers it).
"""

from __future__ import annotations

import pytest

from tests.factories import MemberFactory, StaffFactory, standard_tiers


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture
def tiers(db):
    return standard_tiers()


@pytest.fixture
def member(tiers):
    return MemberFactory(tier=tiers["gold"])


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def rich_member(member):
    """A gold member holding 1,000 points earned just now through the real rule path."""
    from django.utils import timezone

    from tests.loyalty.conftest import earn

    earn(member, 1000, timezone.now())
    return member
