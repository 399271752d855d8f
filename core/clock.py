"""Today's date in the site's time zone, worked out once a day rather than on every request."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from django.utils import timezone

# (time zone, first second of the day, first second of the next, the day)
_today: tuple | None = None


def local_today() -> date:
    """``timezone.localdate()``: the same answer, remembered until the local day ends.

    A kept member page asks for today three times (its copy's key, its view count, the daily
    active count), and each conversion to local time costs more than the rest of reading the
    key. The boundaries are worked out in local time, so a change of offset (summer time) at
    midnight is still a new day.
    """
    global _today
    now = time.time()
    zone = timezone.get_default_timezone()  # the site never activates another
    remembered = _today
    if remembered is not None and remembered[0] is zone and remembered[1] <= now < remembered[2]:
        return remembered[3]
    today = timezone.localdate(timezone=zone)
    start = datetime.combine(today, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    _today = (zone, start.timestamp(), end.timestamp(), today)
    return today
