"""Today's date as the site counts days (daily actives, view counts, kept pages' keys)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from core import clock


@pytest.fixture
def at(monkeypatch):
    """Set the clock to an aware datetime (both the seconds and Django's ``now``)."""

    def set_clock(moment: datetime) -> None:
        monkeypatch.setattr(clock.time, "time", moment.timestamp)
        monkeypatch.setattr(timezone, "now", lambda: moment.astimezone(UTC))

    return set_clock


def test_the_day_turns_at_local_midnight_not_at_utc_midnight(at, settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    zone = timezone.get_current_timezone()
    at(datetime(2026, 12, 8, 23, 59, 59, tzinfo=zone))
    assert clock.local_today() == date(2026, 12, 8)
    at(datetime(2026, 12, 9, 0, 0, 1, tzinfo=zone))  # 16:00 UTC on the 8th
    assert clock.local_today() == date(2026, 12, 9)
    at(datetime(2026, 12, 9, 7, 59, 0, tzinfo=zone))  # 23:59 UTC on the 8th
    assert clock.local_today() == date(2026, 12, 9)
    at(datetime(2026, 12, 8, 12, 0, 0, tzinfo=zone))  # a clock set back is believed too
    assert clock.local_today() == date(2026, 12, 8)


def test_it_answers_as_django_does_now():
    assert clock.local_today() == timezone.localdate()
