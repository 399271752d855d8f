"""Tier qualification: upgrade at once, downgrade only at the evaluation date, staff overrides.

The measure is the points *earned* in the rolling qualifying window (entries with
``qualifying_at``; ``LoyaltySettings.qualifying_months``, 12 by default), never the balance.
Upgrades happen in the transaction that earned the points. Each member has an evaluation date,
once a year (first: a year after their account opened; then a year after each
evaluation); upgrades do not move it. Downgrades happen only at that date, never within the
grace period after a promotion (the evaluation is postponed to the grace period's end), and the
member keeps a tier while the measure is at least ``retain_percent`` of its threshold (the
low-water margin, applied to every tier on the way down). A staff-set tier holds until its end
date, then the member is evaluated at once; earning a higher tier ends it early.

``tier_risk.tiers_warn_at_risk`` tells a member ahead of the evaluation when the points already
earned for it would not keep their tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import DomainError
from core.events import regroup_on_commit
from loyalty import policy
from loyalty.models import (
    LoyaltySettings,
    PointsAccount,
    QualifyingDay,
    TierChange,
    TierRequirement,
)
from loyalty.services import _core
from members.models import Member, Tier


@dataclass(frozen=True)
class Rung:
    tier: Tier
    requirement: TierRequirement


def ladder() -> list[Rung]:
    """The tiers reachable by points, lowest first."""
    return [
        Rung(req.tier, req)
        for req in TierRequirement.objects.select_related("tier").order_by("tier__rank")
    ]


def qualifying_months() -> int:
    """The qualifying window staff set (``LoyaltySettings.qualifying_months``)."""
    return LoyaltySettings.load().qualifying_months


def measure(
    account: PointsAccount, *, at: datetime, since: date | None = None, months: int | None = None
) -> int:
    """Points earned in the qualifying window up to the local day of ``at`` (from ``since`` if
    later); ``months`` defaults to the staff setting.

    The window is whole local days: (same date ``months`` earlier, today]. It reads the per-day
    cache, one row per day at most, whatever the length of the member's history.
    """
    today = timezone.localdate(at)
    start = policy.add_months(today, -(months or qualifying_months()))
    days = QualifyingDay.objects.filter(account=account, day__gt=start, day__lte=today)
    if since is not None:
        days = days.filter(day__gt=since)
    return days.aggregate(total=Sum("points"))["total"] or 0


def qualified_rung(rungs: list[Rung], points: int) -> Rung | None:
    """The highest tier whose threshold ``points`` reach."""
    reached = [rung for rung in rungs if points >= rung.requirement.threshold]
    return reached[-1] if reached else None


def retained_rung(rungs: list[Rung], points: int, current_rank: int) -> Rung | None:
    """At an evaluation: the highest tier at or below the current one whose margin holds."""
    kept = [
        rung
        for rung in rungs
        if rung.tier.rank <= current_rank and points >= rung.requirement.retain_points
    ]
    return kept[-1] if kept else (rungs[0] if rungs else None)


def _change(
    account: PointsAccount,
    *,
    kind: str,
    to_tier: Tier | None,
    points: int,
    now: datetime,
    reason: str,
    actor=None,
    manual_until: date | None = None,
    ip: str | None = None,
) -> TierChange:
    """Record and apply a tier change. Precondition: the account row is locked."""
    member = account.member
    from_tier = member.tier
    change = TierChange.objects.create(
        account=account,
        kind=kind,
        from_tier=from_tier,
        to_tier=to_tier,
        measured_points=points,
        reason=reason,
        manual_until=manual_until,
        actor=actor if getattr(actor, "pk", None) else None,
        created_at=now,
    )
    Member.objects.filter(pk=member.pk).update(tier=to_tier)
    member.tier = to_tier
    audit_record(
        action=f"loyalty.tier_{kind}",
        actor=actor,
        target=member,
        before={"tier": from_tier.code if from_tier else None},
        after={"tier": to_tier.code if to_tier else None, "measured_points": points},
        reason=reason,
        rule="" if getattr(actor, "pk", None) else "loyalty.tiers",
        ip=ip,
    )
    # Open sockets leave the old tier's broadcasts and join the new tier's, before the member
    # hears of the change (the same group delivers both, in this order).
    regroup_on_commit(member.user_id)
    _core.member_event(
        member,
        {
            "kind": "tier_changed",
            "change": kind,
            "tier": to_tier.name if to_tier else None,
            "from": from_tier.name if from_tier else None,
        },
    )
    return change


def _set_account(account: PointsAccount, **fields) -> None:
    for name, value in fields.items():
        setattr(account, name, value)
    PointsAccount.objects.filter(pk=account.pk).update(**fields)


def check_upgrade(
    account: PointsAccount, *, now: datetime, rungs: list[Rung] | None = None
) -> bool:
    """Promote at once when the measure reaches a higher tier. Precondition: account locked."""
    rungs = ladder() if rungs is None else rungs
    if not rungs:
        return False
    months = qualifying_months()
    points = measure(account, at=now, months=months)
    target = qualified_rung(rungs, points)
    current = account.member.tier
    if target is None or (current is not None and target.tier.rank <= current.rank):
        return False
    _change(
        account,
        kind=TierChange.Kind.UPGRADE,
        to_tier=target.tier,
        points=points,
        now=now,
        reason=_("近 %(months)s 个月获得 %(points)s 积分，达到%(tier)s门槛 %(threshold)s")
        % {
            "months": months,
            "points": points,
            "tier": target.tier.name,
            "threshold": target.requirement.threshold,
        },
    )
    _set_account(
        account,
        tier_since=now,
        tier_evaluation_on=account.tier_evaluation_on
        or policy.add_months(timezone.localdate(now), policy.EVALUATION_MONTHS),
        manual_tier=None,
        manual_tier_until=None,
        manual_tier_reason="",
    )
    from loyalty.services import rules  # rules award points, which may upgrade again

    rules.award_locked(
        account,
        trigger="tier_reached",
        natural_key=f"tier:{account.member_id}:{target.tier.code}",
        reference=target.tier,
        now=now,
    )
    return True


def _evaluate_locked(account: PointsAccount, *, now: datetime) -> str:
    """Apply a due evaluation; returns what happened (for the job's log)."""
    today = timezone.localdate(now)
    manual_ended = False
    if account.manual_tier_id:
        if account.manual_tier_until and account.manual_tier_until >= today:
            return "manual"
        manual_ended = True
    if not manual_ended and (
        account.tier_evaluation_on is None or account.tier_evaluation_on > today
    ):
        return "not_due"
    rungs = ladder()
    current = account.member.tier
    months = qualifying_months()
    points = measure(account, at=now, months=months)
    next_evaluation = policy.add_months(today, policy.EVALUATION_MONTHS)
    if manual_ended:
        _set_account(account, manual_tier=None, manual_tier_until=None, manual_tier_reason="")
    if check_upgrade(account, now=now, rungs=rungs):
        return "upgraded"
    requirement = next((r.requirement for r in rungs if current and r.tier.pk == current.pk), None)
    grace_end = (
        account.tier_since + timedelta(days=requirement.grace_days)
        if requirement and account.tier_since
        else None
    )
    if grace_end and now < grace_end and not manual_ended:
        _set_account(account, tier_evaluation_on=timezone.localdate(grace_end))
        return "grace"
    if current is None or not rungs:
        _set_account(account, tier_evaluation_on=next_evaluation)
        return "kept"
    target = retained_rung(rungs, points, current.rank)
    if target is not None and target.tier.pk != current.pk and target.tier.rank < current.rank:
        kind = TierChange.Kind.MANUAL_END if manual_ended else TierChange.Kind.DOWNGRADE
        _change(
            account,
            kind=kind,
            to_tier=target.tier,
            points=points,
            now=now,
            reason=_("评估日近 %(months)s 个月获得 %(points)s 积分，低于%(tier)s保级线 %(keep)s")
            % {
                "months": months,
                "points": points,
                "tier": current.name,
                "keep": requirement.retain_points if requirement else 0,
            },
        )
        _set_account(account, tier_since=now, tier_evaluation_on=next_evaluation)
        return "downgraded"
    _set_account(account, tier_evaluation_on=next_evaluation)
    return "kept"


def tier_evaluate(*, member: Member, now: datetime | None = None) -> str:
    """Run the member's evaluation if it is due: ``upgraded``/``downgraded``/``kept``/…"""
    now = now or timezone.now()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        return _evaluate_locked(account, now=now)


def tiers_evaluate_due(*, now: datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """The nightly job: every account whose evaluation date or manual tier end has come."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = (
        PointsAccount.objects.filter(tier_evaluation_on__lte=today)
        .values_list("member_id", flat=True)
        .union(
            PointsAccount.objects.filter(manual_tier_until__lt=today).values_list(
                "member_id", flat=True
            )
        )
    )
    outcomes: dict[str, int] = {}
    for member_id in list(due[:limit]):
        with transaction.atomic():
            account = _core.account_lock(member_id, now=now)
            outcome = _evaluate_locked(account, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def tier_set_manual(
    *,
    member: Member,
    tier: Tier,
    until: date,
    reason: str,
    actor,
    ip: str | None = None,
    now: datetime | None = None,
) -> TierChange:
    """Staff put a member on a tier until ``until`` (inclusive), whatever they earned."""
    now = now or timezone.now()
    reason = _core.require_reason(reason)
    if until <= timezone.localdate(now):
        raise DomainError(_("手动等级的结束日期须晚于今天。"))
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        change = _change(
            account,
            kind=TierChange.Kind.MANUAL,
            to_tier=tier,
            points=measure(account, at=now),
            now=now,
            reason=reason,
            actor=actor,
            manual_until=until,
            ip=ip,
        )
        _set_account(
            account,
            manual_tier=tier,
            manual_tier_until=until,
            manual_tier_reason=reason,
            tier_since=now,
            tier_evaluation_on=until + timedelta(days=1),
        )
    return change
