"""Reads about coalition partners: a month's statement from the ledger, and a member's links.

A statement is computed from ledger rows alone (entries carrying the partner, and the lot
consumptions of expiries of lots those entries created): nothing the partner or staff typed
enters it. Months are local calendar months (``TIME_ZONE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce

from loyalty import policy
from loyalty.models import (
    Bucket,
    EntryKind,
    LotConsumption,
    Partner,
    PartnerLink,
    PartnerStatement,
    PointsEntry,
)
from members.models import Member

REF_RELEASE = "partner.release"
REF_REFUND = "partner.refund"


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The aware local start of ``month`` and of the month after it."""
    first = month.replace(day=1)
    following = policy.add_months(first, 1)
    return policy.local_midnight(first), policy.local_midnight(following)


@dataclass(frozen=True)
class StatementFigures:
    """One partner's month. All figures are positive point counts.

    issued: accruals that became usable (the partner owes the club their value);
    redeemed: points held at the partner (the club owes the partner);
    released: holds voided or expired (taken back from ``redeemed``);
    refunded: captured holds refunded to the member (taken back from ``redeemed``);
    expired: points of this partner's accruals that expired unused (for information).
    """

    partner: Partner
    month: date
    issued: int
    redeemed: int
    released: int
    refunded: int
    expired: int
    point_value: Decimal
    entries: int
    last_entry_id: int | None
    closed: PartnerStatement | None = None

    @property
    def net_points(self) -> int:
        """Positive: the partner owes the club; negative: the club owes the partner."""
        return self.issued - self.redeemed + self.released + self.refunded

    @property
    def net_amount(self) -> Decimal:
        return (Decimal(self.net_points) * self.point_value).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )

    @property
    def redeemed_net(self) -> int:
        return self.redeemed - self.released - self.refunded


def statement_figures(partner: Partner, month: date) -> StatementFigures:
    """The month as the ledger says now; for a closed month, the stored snapshot instead."""
    month = month.replace(day=1)
    closed = PartnerStatement.objects.filter(partner=partner, month=month).first()
    if closed is not None:
        return StatementFigures(
            partner=partner, month=month, issued=closed.issued, redeemed=closed.redeemed,
            released=closed.released, refunded=closed.refunded, expired=closed.expired,
            point_value=closed.point_value, entries=closed.entries,
            last_entry_id=closed.last_entry_id, closed=closed,
        )  # fmt: skip
    start, end = month_bounds(month)
    entries = PointsEntry.objects.filter(partner=partner, created_at__gte=start, created_at__lt=end)
    sums = entries.aggregate(
        issued=Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.APPROVE, bucket=Bucket.AVAILABLE)), 0
        ),
        redeemed=Coalesce(Sum("amount", filter=Q(kind=EntryKind.REDEEM)), 0),
        released=Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.REFUND, reference_type=REF_RELEASE)), 0
        ),
        refunded=Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.REFUND, reference_type=REF_REFUND)), 0
        ),
        count=Count("pk"),
        last=Max("pk"),
    )
    expired = LotConsumption.objects.filter(
        entry__kind=EntryKind.EXPIRE,
        entry__created_at__gte=start,
        entry__created_at__lt=end,
        lot__entry__partner=partner,
    ).aggregate(total=Coalesce(Sum("amount"), 0))["total"]
    return StatementFigures(
        partner=partner, month=month, issued=sums["issued"], redeemed=-sums["redeemed"],
        released=sums["released"], refunded=sums["refunded"], expired=expired,
        point_value=partner.point_value, entries=sums["count"], last_entry_id=sums["last"],
    )  # fmt: skip


def statement_months(partner: Partner, *, today: date, count: int = 12) -> list[StatementFigures]:
    """The last ``count`` months up to this one, newest first (closed ones from their snapshot)."""
    first = today.replace(day=1)
    return [statement_figures(partner, policy.add_months(first, -i)) for i in range(count)]


# --- A member's partners ------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberPartner:
    link: PartnerLink
    entries: list[PointsEntry]


def member_partners(member: Member, *, per_link: int = 20) -> list[MemberPartner]:
    """Each link of the member (live first), with the newest entries that partner wrote."""
    links = list(
        PartnerLink.objects.filter(member=member)
        .select_related("partner", "partner__logo")
        .order_by("state", "-linked_at")
    )
    partner_ids = {link.partner_id for link in links}
    recent: dict[int, list[PointsEntry]] = {pk: [] for pk in partner_ids}
    if partner_ids:
        rows = PointsEntry.objects.filter(
            account__member=member, partner_id__in=partner_ids
        ).order_by("-created_at", "-pk")[: per_link * len(partner_ids)]
        for entry in rows:
            if len(recent[entry.partner_id]) < per_link:
                recent[entry.partner_id].append(entry)
    seen: set[int] = set()
    found = []
    for link in links:
        # Entries belong to the partner, not to one link: show them with the newest link only.
        entries = [] if link.partner_id in seen else recent.get(link.partner_id, [])
        seen.add(link.partner_id)
        found.append(MemberPartner(link, entries))
    return found
