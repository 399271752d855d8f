"""The date range every chart honours: local (Asia/Shanghai) days, both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

PRESETS = (7, 30, 90, 365)
DEFAULT_DAYS = 90
# A chart over more than about three years is no longer a dashboard; the cap also bounds the
# work one request can ask of the database.
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """Local midnight starting the first day."""
        return local_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        """Local midnight after the last day (exclusive upper bound)."""
        return local_midnight(self.end + timedelta(days=1))

    @property
    def week_start(self) -> date:
        """Monday of the first day's week: weekly charts count whole weeks."""
        return self.start - timedelta(days=self.start.weekday())

    @property
    def month_start(self) -> date:
        """First day of the first day's month: monthly charts count whole months."""
        return self.start.replace(day=1)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def each_week(self) -> list[date]:
        weeks, monday = [], self.week_start
        while monday <= self.end:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks

    def each_month(self) -> list[date]:
        months, first = [], self.month_start
        while first <= self.end:
            months.append(first)
            first = (first + timedelta(days=32)).replace(day=1)
        return months

    def query(self) -> str:
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}"

    def key(self) -> str:
        return f"{self.start.isoformat()}:{self.end.isoformat()}"


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def last_days(days: int, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(today - timedelta(days=days - 1), today)


def _parse(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def period_from_params(params, today: date | None = None) -> Period:
    """``?days=N`` (a preset), or ``?from=YYYY-MM-DD&to=YYYY-MM-DD``; the last 90 days otherwise.

    Dates in the future are brought back to today, a reversed range is turned round and a
    range longer than ``MAX_DAYS`` keeps its end and loses its oldest days.
    """
    today = today or timezone.localdate()
    days = params.get("days")
    if days and str(days).isascii() and str(days).isdigit() and int(days) in PRESETS:
        return last_days(int(days), today)
    start, end = _parse(params.get("from")), _parse(params.get("to"))
    if start is None and end is None:
        return last_days(DEFAULT_DAYS, today)
    end = min(end or today, today)
    start = min(start or end - timedelta(days=DEFAULT_DAYS - 1), today)
    if start > end:
        start, end = end, start
    if (end - start).days + 1 > MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    return Period(start, end)
