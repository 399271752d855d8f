"""Reads for the member pages (and the staff account view): balance, tier, history, rewards.

Every page-level read is a fixed number of queries, whatever the length of a member's history:
lists are keyset-paginated over indexes, sums are single aggregates over live lots or the
per-day cache of earned points.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import pagecache
from core.errors import DomainError
from loyalty import policy
from loyalty.models import (
    Bucket,
    EarningRule,
    EntryKind,
    LoyaltySettings,
    PendingAward,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Redemption,
    Reward,
    TierRequirement,
    Trigger,
)
from loyalty.services.rewards import ACTIVE_STATES
from loyalty.services.tiers import Rung, ladder, measure, qualified_rung, retained_rung
from members.models import Member, Tier


def loyalty_settings() -> LoyaltySettings:
    """The programme's settings as pages show them, kept until any of them changes
    (``loyalty.caching``); services read ``LoyaltySettings.load()`` themselves."""
    return pagecache.fragment(("loyalty", "settings"), LoyaltySettings.load)


def _ladder() -> list[Rung]:
    return pagecache.fragment(("loyalty", "ladder"), ladder)


def account_of(member: Member) -> PointsAccount:
    """The member's account, or an unsaved empty one (accounts open at the first points)."""
    account = PointsAccount.objects.filter(member=member).first()
    return account or PointsAccount(member=member)


# --- Balance ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceSummary:
    available: int
    pending: int
    expiring_soon: int
    expiring_days: int
    next_expiry: date | None
    next_expiry_points: int
    lifetime_earned: int


def balance_summary(account: PointsAccount, *, now: datetime, days: int) -> BalanceSummary:
    """Available points (minus any whose expiry passed tonight's job has not run for yet)."""
    if account.pk is None:
        return BalanceSummary(0, 0, 0, days, None, 0, 0)
    horizon = now + timedelta(days=days)
    lots = PointsLot.objects.filter(account=account, remaining__gt=0, expires_at__isnull=False)
    figures = lots.aggregate(
        overdue=Coalesce(Sum("remaining", filter=Q(expires_at__lte=now)), 0),
        soon=Coalesce(Sum("remaining", filter=Q(expires_at__gt=now, expires_at__lte=horizon)), 0),
    )
    first = (
        lots.filter(expires_at__gt=now)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
        .first()
    )
    next_day = None
    if first:
        next_day = timezone.localtime(first["expires_at"] - timedelta(seconds=1)).date()
    return BalanceSummary(
        available=account.balance - figures["overdue"],
        pending=account.pending,
        expiring_soon=figures["soon"],
        expiring_days=days,
        next_expiry=next_day,
        next_expiry_points=first["points"] if first else 0,
        lifetime_earned=account.lifetime_earned,
    )


def expiry_calendar(account: PointsAccount, *, now: datetime) -> list[tuple[date, int]]:
    """Every upcoming expiry date with the points that expire at the end of it."""
    if account.pk is None:
        return []
    rows = (
        PointsLot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return [
        (timezone.localtime(row["expires_at"] - timedelta(seconds=1)).date(), row["points"])
        for row in rows
    ]


def never_expiring(account: PointsAccount) -> int:
    if account.pk is None:
        return 0
    return (
        PointsLot.objects.filter(
            account=account, remaining__gt=0, expires_at__isnull=True
        ).aggregate(total=Sum("remaining"))["total"]
        or 0
    )


def pending_awards(account: PointsAccount, limit: int = 20) -> list[PendingAward]:
    if account.pk is None:
        return []
    return list(
        PendingAward.objects.filter(account=account, state=PendingAward.State.PENDING)
        .select_related("rule")
        .order_by("release_at", "pk")[:limit]
    )


# --- Tier ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    requirement: TierRequirement | None
    measured: int
    next_tier: Tier | None
    next_threshold: int | None
    to_next: int | None
    progress_percent: int
    evaluation_on: date | None
    window_from: date | None
    counted_at_evaluation: int
    keeps: Tier | None
    keep_points: int | None
    short_to_keep: int
    in_grace_until: date | None
    manual_tier: Tier | None
    manual_until: date | None
    ladder: list[Rung] = field(default_factory=list)
    window_months: int = policy.QUALIFYING_MONTHS


def tier_progress(account: PointsAccount, *, now: datetime) -> TierProgress:
    """The member's tier card: the rule, the measure, the next tier, the next evaluation."""
    rungs = _ladder()
    member = account.member
    tier = member.tier
    months = LoyaltySettings.load().qualifying_months
    measured = measure(account, at=now, months=months) if account.pk else 0
    requirement = next((r.requirement for r in rungs if tier and r.tier.pk == tier.pk), None)
    higher = [r for r in rungs if tier is None or r.tier.rank > tier.rank]
    following = higher[0] if higher else None
    to_next = max(following.requirement.threshold - measured, 0) if following else None
    if following and following.requirement.threshold:
        progress = min(100, measured * 100 // following.requirement.threshold)
    else:
        progress = 100
    evaluation_on = account.tier_evaluation_on
    counted = 0
    keeps = tier
    window_from = None
    if evaluation_on and account.pk:
        # Earned so far and still inside the window that ends on the evaluation date.
        window_start = policy.add_months(evaluation_on, -months)
        window_from = window_start + timedelta(days=1)
        counted = measure(account, at=now, since=window_start, months=months)
        if tier is not None and rungs:
            kept = retained_rung(rungs, counted, tier.rank)
            keeps = kept.tier if kept else tier
            reached = qualified_rung(rungs, counted)
            if reached and reached.tier.rank > keeps.rank:
                keeps = reached.tier
    grace_until = None
    if requirement and account.tier_since and evaluation_on:
        grace_end = timezone.localdate(account.tier_since + timedelta(days=requirement.grace_days))
        # Worth saying only when the grace period reaches past the evaluation date.
        grace_until = grace_end if grace_end >= evaluation_on else None
    keep_points = requirement.retain_points if requirement else None
    return TierProgress(
        tier=tier,
        requirement=requirement,
        measured=measured,
        next_tier=following.tier if following else None,
        next_threshold=following.requirement.threshold if following else None,
        to_next=to_next,
        progress_percent=progress,
        evaluation_on=evaluation_on,
        window_from=window_from,
        counted_at_evaluation=counted,
        keeps=keeps,
        keep_points=keep_points,
        short_to_keep=max((keep_points or 0) - counted, 0),
        in_grace_until=grace_until,
        manual_tier=account.manual_tier if account.manual_tier_id else None,
        manual_until=account.manual_tier_until,
        ladder=rungs,
        window_months=months,
    )


# --- Ledger history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerPage:
    entries: list[PointsEntry]
    next_cursor: str | None


def encode_cursor(entry: PointsEntry) -> str:
    raw = f"{entry.created_at.isoformat()}|{entry.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|")
        value = datetime.fromisoformat(stamp)
        return (value, int(pk)) if timezone.is_aware(value) else None
    except (ValueError, UnicodeDecodeError):
        return None


def ledger_page(
    account: PointsAccount,
    *,
    kind: str = "",
    bucket: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    cursor: str = "",
    size: int = 20,
) -> LedgerPage:
    """One page of history, newest first, continuing after ``cursor`` (keyset, not OFFSET)."""
    if account.pk is None:
        return LedgerPage([], None)
    entries = PointsEntry.objects.filter(account=account)
    if kind in EntryKind.values:
        entries = entries.filter(kind=kind)
    if bucket in Bucket.values:
        entries = entries.filter(bucket=bucket)
    if date_from:
        entries = entries.filter(created_at__gte=policy.local_midnight(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=policy.local_midnight(date_to + timedelta(days=1)))
    position = decode_cursor(cursor) if cursor else None
    if position:
        stamp, pk = position
        # The first condition bounds the index range scan; the second breaks ties by id.
        entries = entries.filter(created_at__lte=stamp).filter(
            Q(created_at__lt=stamp) | Q(pk__lt=pk)
        )
    rows = list(entries.order_by("-created_at", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return LedgerPage(rows, encode_cursor(rows[-1]) if more and rows else None)


# --- Rewards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueItem:
    reward: Reward
    problems: list[DomainError]

    @property
    def can_redeem(self) -> bool:
        return not self.problems


def rewards_on_show(now: datetime):
    """Rewards on the shelf and inside their display window: what the catalogue shows."""
    return (
        Reward.objects.filter(live=True)
        .filter(Q(visible_from__isnull=True) | Q(visible_from__lte=now))
        .filter(Q(visible_until__isnull=True) | Q(visible_until__gt=now))
    )


def visible_rewards(now: datetime):
    # Pictures are links to the access-checking image view: no rendition is read here.
    return (
        rewards_on_show(now)
        .select_related("min_tier", "image")
        .annotate(free_codes=Count("coupon_codes", filter=Q(coupon_codes__redemption__isnull=True)))
    )


def reward_catalogue(
    member: Member, account: PointsAccount, *, now: datetime, balance: int
) -> list[CatalogueItem]:
    """Every visible reward with the reasons the member cannot redeem it now (none: they can)."""
    rewards = list(visible_rewards(now))
    counts: dict[int, list[datetime]] = {}
    if account.pk and rewards:
        for reward_id, created in Redemption.objects.filter(
            account=account, reward__in=rewards, state__in=ACTIVE_STATES
        ).values_list("reward_id", "created_at"):
            counts.setdefault(reward_id, []).append(created)
    items = []
    for reward in rewards:
        made = counts.get(reward.pk, [])
        start = policy.period_start(reward.limit_period, now)
        problems = policy.reward_problems(
            member_state=member.state,
            tier_rank=member.tier.rank if member.tier else None,
            reward=reward,
            balance=balance,
            redeemed_total=len(made),
            redeemed_in_period=sum(1 for created in made if created >= start),
            free_codes=reward.free_codes,
            now=now,
        )
        items.append(CatalogueItem(reward, problems))
    items.sort(key=lambda item: (not item.can_redeem, item.reward.sort_order, item.reward.cost))
    return items


def reward_item(
    member: Member, account: PointsAccount, reward_id: int, *, now: datetime, balance: int
) -> CatalogueItem | None:
    for item in reward_catalogue(member, account, now=now, balance=balance):
        if item.reward.pk == reward_id:
            return item
    return None


def redemption_history(account: PointsAccount):
    """The member's redemptions, newest first, with reward and coupon code in the same query."""
    if account.pk is None:
        return Redemption.objects.none()
    return (
        Redemption.objects.filter(account=account)
        .select_related("reward", "coupon")
        .order_by("-created_at", "-pk")
    )


def _live_rules() -> list[EarningRule]:
    """Enabled rules with their tiers and multipliers, kept until a rule changes."""

    def build() -> list[EarningRule]:
        return list(
            EarningRule.objects.filter(enabled=True)
            .exclude(trigger=Trigger.TIER_REACHED)
            .prefetch_related("target_tiers", "multipliers")
            .order_by("trigger", "pk")
        )

    return pagecache.fragment(("loyalty", "rules"), build)


def earning_rules_for(member: Member, *, now: datetime) -> list[EarningRule]:
    """Rules the member can earn by now (for the "how to earn" list)."""
    shown = []
    for kept in _live_rules():
        if kept.active_from is not None and kept.active_from > now:
            continue
        if kept.active_until is not None and kept.active_until <= now:
            continue
        targets = {tier.pk for tier in kept.target_tiers.all()}
        if targets and member.tier_id not in targets:
            continue
        rule = copy.copy(kept)  # the kept list is shared: the member's figure goes on a copy
        rule.member_points = next(
            (
                policy.apply_multiplier(rule.points, row.multiplier)
                for row in kept.multipliers.all()
                if row.tier_id == member.tier_id
            ),
            rule.points,
        )
        shown.append(rule)
    return shown


def checked_in_today(account: PointsAccount, *, now: datetime) -> bool:
    if account.pk is None:
        return False
    day = timezone.localdate(now)
    return PointsEntry.objects.filter(
        account=account,
        kind=EntryKind.EARN,
        created_at__gte=policy.local_midnight(day),  # bounds the index scan to today
        reference_type="checkin",
        reference_id=day.isoformat(),
    ).exists()
