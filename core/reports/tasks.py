"""Nightly job of the dashboard."""

from __future__ import annotations

from celery import shared_task

from core.reports.services import report_days_fill


@shared_task(name="core.reports.fill_report_days")
def fill_report_days() -> dict[str, int]:
    """Store the rollups of yesterday (and of any day missed); safe to run twice."""
    return report_days_fill()
