"""Reads over the whole programme for staff and operations: liability and reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from loyalty.models import (
    Bucket,
    CouponCode,
    EntryKind,
    LotConsumption,
    PartnerHold,
    PendingAward,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Redemption,
    Reward,
)
from loyalty.services.rewards import ACTIVE_STATES

# --- Liability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Liability:
    outstanding: int
    pending: int
    accounts: int
    expiring: list[tuple[int, int]]
    never_expiring: int
    issued: int
    redeemed: int
    expired: int
    breakage_percent: float
    issued_12m: int
    expired_12m: int


def liability(*, now: datetime) -> Liability:
    """Outstanding points, pending, what expires when, and breakage (expired ÷ issued)."""
    totals = PointsAccount.objects.aggregate(
        total_balance=Coalesce(Sum("balance"), 0),
        total_pending=Coalesce(Sum("pending"), 0),
        accounts=Count("pk", filter=Q(balance__gt=0) | Q(pending__gt=0)),
    )
    live = PointsLot.objects.filter(remaining__gt=0)
    windows = live.aggregate(
        **{
            f"d{days}": Coalesce(
                Sum(
                    "remaining",
                    filter=Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=days)),
                ),
                0,
            )
            for days in (30, 60, 90)
        },
        never=Coalesce(Sum("remaining", filter=Q(expires_at__isnull=True)), 0),
    )
    year_ago = now - timedelta(days=365)
    credit = Q(bucket=Bucket.AVAILABLE) & (
        Q(kind__in=[EntryKind.EARN, EntryKind.APPROVE]) | Q(kind=EntryKind.ADJUST, amount__gt=0)
    )
    flows = PointsEntry.objects.aggregate(
        issued=Coalesce(Sum("amount", filter=credit), 0),
        redeemed=Coalesce(
            Sum("amount", filter=Q(kind__in=[EntryKind.REDEEM, EntryKind.REFUND])), 0
        ),
        expired=Coalesce(Sum("amount", filter=Q(kind=EntryKind.EXPIRE)), 0),
        issued_12m=Coalesce(Sum("amount", filter=credit & Q(created_at__gte=year_ago)), 0),
        expired_12m=Coalesce(
            Sum("amount", filter=Q(kind=EntryKind.EXPIRE, created_at__gte=year_ago)), 0
        ),
    )
    issued = flows["issued"]
    expired = -flows["expired"]
    return Liability(
        outstanding=totals["total_balance"],
        pending=totals["total_pending"],
        accounts=totals["accounts"],
        expiring=[(days, windows[f"d{days}"]) for days in (30, 60, 90)],
        never_expiring=windows["never"],
        issued=issued,
        redeemed=-flows["redeemed"],
        expired=expired,
        breakage_percent=round(expired * 100 / issued, 1) if issued else 0.0,
        issued_12m=flows["issued_12m"],
        expired_12m=-flows["expired_12m"],
    )


# --- Reconciliation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    account_id: int
    member_id: int | None
    check: str
    expected: int
    actual: int

    def __str__(self) -> str:
        return (
            f"account {self.account_id} (member {self.member_id}): {self.check}: "
            f"expected {self.expected}, found {self.actual}"
        )


def _sums(queryset, value: str) -> dict[int, int]:
    return {
        row["account_id"]: row["total"]
        for row in queryset.values("account_id").annotate(total=Sum(value)).order_by()
    }


def reconcile() -> list[Discrepancy]:
    """Prove, for every account, that the cached figures equal the sums they cache.

    balance == Σ available entries == Σ lot remaining; pending == Σ pending entries ==
    Σ open pending awards; lifetime_earned == Σ qualifying entries; every lot's remaining ==
    amount − Σ its consumptions; every redemption's entries net to −cost while active, 0 after;
    every partner hold's entry and its reversal net to −amount while held or captured, 0 after.
    """
    entries = PointsEntry.objects.all()
    available = _sums(entries.filter(bucket=Bucket.AVAILABLE), "amount")
    pending = _sums(entries.filter(bucket=Bucket.PENDING), "amount")
    qualifying = _sums(entries.filter(qualifying_at__isnull=False), "amount")
    lots = _sums(PointsLot.objects.all(), "remaining")
    awards = _sums(PendingAward.objects.filter(state=PendingAward.State.PENDING), "amount")
    found: list[Discrepancy] = []
    figures = PointsAccount.objects.values(
        "pk", "member_id", "balance", "pending", "lifetime_earned"
    )
    for account in figures.iterator(chunk_size=5000):
        pk, member_id = account["pk"], account["member_id"]
        checks = [
            ("balance = Σ available entries", available.get(pk, 0), account["balance"]),
            ("balance = Σ lot remaining", lots.get(pk, 0), account["balance"]),
            ("pending = Σ pending entries", pending.get(pk, 0), account["pending"]),
            ("pending = Σ open pending awards", awards.get(pk, 0), account["pending"]),
            ("lifetime_earned = Σ qualifying entries", qualifying.get(pk, 0),
             account["lifetime_earned"]),
        ]  # fmt: skip
        for name, expected, actual in checks:
            if expected != actual:
                found.append(Discrepancy(pk, member_id, name, expected, actual))
    consumed = (
        LotConsumption.objects.filter(lot=OuterRef("pk"))
        .values("lot")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    bad_lots = (
        PointsLot.objects.annotate(
            consumed=Coalesce(Subquery(consumed, output_field=IntegerField()), Value(0))
        )
        .exclude(remaining=F("amount") - F("consumed"))
        .values("pk", "account_id", "account__member_id", "amount", "remaining", "consumed")
    )
    for lot in bad_lots:
        found.append(
            Discrepancy(
                lot["account_id"],
                lot["account__member_id"],
                f"lot {lot['pk']} remaining = amount − Σ consumptions",
                lot["amount"] - lot["consumed"],
                lot["remaining"],
            )  # fmt: skip
        )
    found += _qualifying_day_discrepancies()
    charged = (
        PointsEntry.objects.filter(redemption=OuterRef("pk"))
        .values("redemption")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    redemptions = Redemption.objects.annotate(
        net=Coalesce(Subquery(charged, output_field=IntegerField()), Value(0))
    )
    bad_redemptions = redemptions.filter(
        (Q(state__in=ACTIVE_STATES) & ~Q(net=-F("cost")))
        | (~Q(state__in=ACTIVE_STATES) & ~Q(net=0))
    ).values("pk", "account_id", "account__member_id", "state", "cost", "net")
    for row in bad_redemptions:
        expected = -row["cost"] if row["state"] in ACTIVE_STATES else 0
        found.append(
            Discrepancy(
                row["account_id"],
                row["account__member_id"],
                f"redemption {row['pk']} ({row['state']}) entries net",
                expected,
                row["net"],
            )  # fmt: skip
        )
    found += _partner_hold_discrepancies()
    return found


def _partner_hold_discrepancies() -> list[Discrepancy]:
    """A hold's points are out of the balance exactly while it is held or captured."""
    live = [PartnerHold.State.HELD, PartnerHold.State.CAPTURED]
    reversal = PointsEntry.objects.filter(reverses=OuterRef("entry_id")).values("amount")[:1]
    holds = PartnerHold.objects.annotate(
        charged=Coalesce(F("entry__amount"), Value(0)),
        returned=Coalesce(Subquery(reversal, output_field=IntegerField()), Value(0)),
    )
    bad = holds.filter(
        (Q(state__in=live) & ~Q(charged=-F("amount"), returned=0))
        | (~Q(state__in=live) & ~Q(charged=-F("amount"), returned=F("amount")))
    ).values("pk", "account_id", "account__member_id", "state", "amount", "charged", "returned")
    return [
        Discrepancy(
            row["account_id"],
            row["account__member_id"],
            f"partner hold {row['pk']} ({row['state']}) entries net",
            -row["amount"] if row["state"] in live else 0,
            row["charged"] + row["returned"],
        )
        for row in bad
    ]


QUALIFYING_DAYS_SQL = """
WITH earned AS (
    SELECT account_id, (qualifying_at AT TIME ZONE %s)::date AS day, SUM(amount) AS total
    FROM loyalty_pointsentry WHERE qualifying_at IS NOT NULL GROUP BY 1, 2
)
SELECT COALESCE(earned.account_id, cached.account_id), COALESCE(earned.day, cached.day),
       COALESCE(earned.total, 0), COALESCE(cached.points, 0)
FROM earned FULL OUTER JOIN loyalty_qualifyingday cached
    ON cached.account_id = earned.account_id AND cached.day = earned.day
WHERE COALESCE(earned.total, 0) <> COALESCE(cached.points, 0)
"""


def _qualifying_day_discrepancies() -> list[Discrepancy]:
    """Each cached day of earned points equals the qualifying entries of that local day."""
    with connection.cursor() as cursor:
        cursor.execute(QUALIFYING_DAYS_SQL, [settings.TIME_ZONE])
        rows = cursor.fetchall()
    members = dict(
        PointsAccount.objects.filter(pk__in={row[0] for row in rows}).values_list("pk", "member_id")
    )
    return [
        Discrepancy(account_id, members.get(account_id), f"earned on {day} (tier cache)",
                    expected, actual)
        for account_id, day, expected, actual in rows
    ]  # fmt: skip


def coupon_pool(reward: Reward) -> dict[str, int]:
    return CouponCode.objects.filter(reward=reward).aggregate(
        total=Count("pk"), free=Count("pk", filter=Q(redemption__isnull=True))
    )
