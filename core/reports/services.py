"""Writes behind the dashboard: recording daily active members and storing finished days."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from core.models import ActiveMembersDay, DailyActiveMember, InteractionWeek, LedgerDay
from core.reports.periods import MAX_DAYS, local_midnight
from core.reports.selectors import active_counts_live, interacting_live, ledger_days_live

logger = logging.getLogger(__name__)

# One INSERT, whatever happens: the member row is looked up inside it (only admitted members
# count), and a second insert for the same day is a no-op thanks to the unique constraint.
RECORD_SQL = """
INSERT INTO core_dailyactivemember (day, member_id)
SELECT %s, id FROM members_member WHERE user_id = %s AND state = 'member'
ON CONFLICT (day, member_id) DO NOTHING
"""
# How far back the nightly job looks for days it has not stored yet: the longest range a chart
# shows, plus the 30 days a MAU looks back.
FILL_LOOKBACK_DAYS = MAX_DAYS + 31
CHUNK_DAYS = 63


def daily_active_key(day: date, user_id: int) -> str:
    return f"reports:dau:{day.isoformat()}:{user_id}"


def daily_active_record(*, user_id: int, day: date | None = None) -> bool:
    """Note that the member signed in as ``user_id`` used the site today.

    Called on every signed-in request, so it must cost nothing after the first time a day:
    a Redis ``add`` (set if absent, expiring after the day) lets one request per member and
    day through to the database. Returns True when a row was written. If Redis is down the
    visit is not recorded: a statistic is not worth failing or slowing a member's request.
    """
    day = day or timezone.localdate()
    seconds_left = (local_midnight(day + timedelta(days=1)) - timezone.now()).total_seconds()
    try:
        first = cache.add(daily_active_key(day, user_id), 1, timeout=int(seconds_left) + 3600)
    except Exception:  # noqa: BLE001 - any cache failure: skip the statistic, keep serving
        logger.warning("daily active member not recorded: cache unavailable", exc_info=True)
        return False
    if not first:
        return False
    with connection.cursor() as cursor:
        cursor.execute(RECORD_SQL, [day, user_id])
        return cursor.rowcount == 1


def _chunks(items: list, size: int) -> list[list]:
    return [items[n : n + size] for n in range(0, len(items), size)]


def _missing_days(model, field: str, since: date, until: date) -> list[date]:
    stored = set(
        model.objects.filter(**{f"{field}__gte": since, f"{field}__lte": until}).values_list(
            field, flat=True
        )
    )
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    return [day for day in days if day not in stored]


def _fill_active(since: date, until: date) -> int:
    first_seen = DailyActiveMember.objects.aggregate(first=Min("day"))["first"]
    if first_seen is None:
        return 0
    written = 0
    for chunk in _chunks(_missing_days(ActiveMembersDay, "day", max(since, first_seen), until),
                         CHUNK_DAYS):  # fmt: skip
        counts = active_counts_live(chunk[0], chunk[-1])
        ActiveMembersDay.objects.bulk_create(
            [ActiveMembersDay(day=day, dau=counts[day][0], wau=counts[day][1],
                              mau=counts[day][2]) for day in chunk],
            ignore_conflicts=True,
        )  # fmt: skip
        written += len(chunk)
    return written


def _fill_ledger(since: date, until: date) -> int:
    from loyalty.models import PointsEntry

    first_entry = PointsEntry.objects.aggregate(first=Min("created_at"))["first"]
    if first_entry is None:
        return 0
    since = max(since, timezone.localdate(first_entry))
    written = 0
    for chunk in _chunks(_missing_days(LedgerDay, "day", since, until), CHUNK_DAYS):
        sums = ledger_days_live(chunk[0], chunk[-1])
        empty = {"issued": 0, "redeemed": 0, "expired": 0, "net": 0}
        LedgerDay.objects.bulk_create(
            [LedgerDay(day=day, **sums.get(day, empty)) for day in chunk], ignore_conflicts=True
        )
        written += len(chunk)
    return written


def _fill_interaction(since: date, until: date) -> int:
    first_monday = since - timedelta(days=since.weekday())
    last_monday = until - timedelta(days=until.weekday() + (0 if until.weekday() == 6 else 7))
    weeks = [first_monday + timedelta(days=7 * n)
             for n in range((last_monday - first_monday).days // 7 + 1)]  # fmt: skip
    stored = set(InteractionWeek.objects.filter(week__in=weeks).values_list("week", flat=True))
    written = 0
    for chunk in _chunks([week for week in weeks if week not in stored], CHUNK_DAYS // 7):
        counts = interacting_live(chunk[0], chunk[-1] + timedelta(days=6))
        InteractionWeek.objects.bulk_create(
            [InteractionWeek(week=week, interacting=counts.get(week, 0)) for week in chunk],
            ignore_conflicts=True,
        )
        written += len(chunk)
    return written


def report_days_fill(*, until: date | None = None) -> dict[str, int]:
    """Store the dashboard's rollups for every finished day (and week) not stored yet.

    DAU / WAU / MAU per day, ledger sums per day, interacting members per week (Monday to
    Sunday). Looks back ``FILL_LOOKBACK_DAYS`` (bounded by the first data), so the nightly run
    also fills any day a previous run missed and the first run backfills the history. Safe to
    run twice, or concurrently: stored periods are skipped and a concurrent run's rows win.
    Returns how many periods of each kind it computed.
    """
    until = until or timezone.localdate() - timedelta(days=1)
    since = until - timedelta(days=FILL_LOOKBACK_DAYS - 1)
    return {
        "active": _fill_active(since, until),
        "ledger": _fill_ledger(since, until),
        "interaction": _fill_interaction(since, until),
    }
