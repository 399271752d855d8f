"""Closing a partner's month: the statement the ledger gives is stored once and never changes.

Closing is refused before the month has ended. Every entry is written with the time it was
made, so nothing can land in a month that has ended; a correction (a refund, a late
confirmation) is an entry of the month it happens in, and shows in that month's statement.
Two staff closing the same month at once: the unique constraint lets one through, the other is
told it is closed.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from loyalty import errors
from loyalty.models import Partner, PartnerStatement
from loyalty.selectors.partners import month_bounds, statement_figures


def partner_statement_close(
    *, partner: Partner, month: date, actor, ip: str | None = None, now: datetime | None = None
) -> PartnerStatement:
    """Store the month's statement as computed from the ledger now (audited)."""
    now = now or timezone.now()
    month = month.replace(day=1)
    _start, end = month_bounds(month)
    if now < end:
        raise errors.StatementMonthOpen
    figures = statement_figures(partner, month)
    if figures.closed is not None:
        raise errors.StatementClosed
    try:
        with transaction.atomic():
            statement = PartnerStatement.objects.create(
                partner=partner, month=month, issued=figures.issued, redeemed=figures.redeemed,
                released=figures.released, refunded=figures.refunded, expired=figures.expired,
                point_value=figures.point_value, net_points=figures.net_points,
                net_amount=figures.net_amount, entries=figures.entries,
                last_entry_id=figures.last_entry_id, closed_at=now, closed_by=actor,
            )  # fmt: skip
            audit_record(
                action="partner.statement_closed",
                actor=actor,
                target=partner,
                after={
                    "month": month.isoformat(),
                    "issued": figures.issued,
                    "redeemed": figures.redeemed,
                    "released": figures.released,
                    "refunded": figures.refunded,
                    "expired": figures.expired,
                    "net_points": figures.net_points,
                    "net_amount": str(figures.net_amount),
                },
                ip=ip,
            )
    except IntegrityError as error:
        raise errors.StatementClosed from error
    return statement
