"""Telling members ahead of an evaluation that their tier is at risk.

A member learns that a tier is lost only when it is lost, unless told before. Each day
``tiers_warn_at_risk`` looks at the members whose next evaluation falls within
``LoyaltySettings.tier_risk_notice_days`` (30 by default) and projects the evaluation as
``tiers._evaluate_locked`` will run it, assuming they earn nothing more: the points already
earned that will still be inside the qualifying window on the evaluation date, against the
keep line of their tier, on the date the evaluation will really happen (after a grace period
that reaches past the scheduled date; a staff-set tier is evaluated without grace the day
after it ends). A member the projection would downgrade gets one in-site notification per
evaluation date (the notification's dedupe key), written in the language they chose. Nothing
is locked or changed: a notice is a forecast, and the job is safe to run any number of times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import Notification
from core.notifications import notify, written_for
from loyalty import policy
from loyalty.models import LoyaltySettings, PointsAccount
from loyalty.services.tiers import Rung, ladder, measure, qualified_rung, retained_rung
from members.models import Member, Tier

NOTICE_KEY = "tier-at-risk:{evaluation}"


@dataclass(frozen=True)
class Projection:
    """What the member's next evaluation would do if they earned nothing more."""

    evaluation_on: date
    counted: int
    keep_points: int
    drops_to: Tier | None

    @property
    def short(self) -> int:
        return max(self.keep_points - self.counted, 0)


def evaluation_date(account: PointsAccount, rungs: list[Rung], *, today: date) -> date | None:
    """The day the next evaluation will really change the tier: the scheduled date, or the end
    of a grace period that reaches past it (a staff-set tier ends without grace)."""
    scheduled = account.tier_evaluation_on
    if scheduled is None:
        return None
    manual = bool(account.manual_tier_id and account.manual_tier_until)
    if manual:
        return max(scheduled, account.manual_tier_until + timedelta(days=1))
    tier = account.member.tier
    requirement = next((r.requirement for r in rungs if tier and r.tier.pk == tier.pk), None)
    if requirement and account.tier_since:
        grace_end = timezone.localdate(account.tier_since + timedelta(days=requirement.grace_days))
        if grace_end > scheduled:
            return grace_end
    return scheduled


def tier_projection(
    account: PointsAccount, *, now: datetime, rungs: list[Rung] | None = None,
    months: int | None = None,
) -> Projection | None:  # fmt: skip
    """The projection of the member's next evaluation; None when it would not downgrade them."""
    rungs = ladder() if rungs is None else rungs
    tier = account.member.tier
    if tier is None or not rungs:
        return None
    today = timezone.localdate(now)
    evaluation_on = evaluation_date(account, rungs, today=today)
    if evaluation_on is None:
        return None
    months = months or LoyaltySettings.load().qualifying_months
    window_start = policy.add_months(evaluation_on, -months)
    counted = measure(account, at=now, since=window_start, months=months)
    reached = qualified_rung(rungs, counted)
    if reached and reached.tier.rank >= tier.rank:
        return None
    kept = retained_rung(rungs, counted, tier.rank)
    if kept is None or kept.tier.rank >= tier.rank:
        return None
    requirement = next((r.requirement for r in rungs if r.tier.pk == tier.pk), None)
    return Projection(
        evaluation_on=evaluation_on,
        counted=counted,
        keep_points=requirement.retain_points if requirement else 0,
        drops_to=kept.tier,
    )


def tiers_warn_at_risk(*, now: datetime | None = None) -> int:
    """The daily job: notify each member whose next evaluation, within the notice period, would
    downgrade them; once per evaluation date. Returns how many were notified."""
    now = now or timezone.now()
    settings_ = LoyaltySettings.load()
    days = settings_.tier_risk_notice_days
    rungs = ladder()
    if not days or not rungs:
        return 0
    today = timezone.localdate(now)
    horizon = today + timedelta(days=days)
    # A grace period or a staff-set tier only ever postpones the evaluation: every member due
    # within the horizon is scheduled within it.
    accounts = (
        PointsAccount.objects.filter(
            tier_evaluation_on__gt=today,
            tier_evaluation_on__lte=horizon,
            member__state=Member.State.MEMBER,
            member__tier__isnull=False,
        )
        .select_related("member", "member__tier")
        .order_by("pk")
    )
    told = 0
    for account in accounts.iterator(chunk_size=500):
        projection = tier_projection(
            account, now=now, rungs=rungs, months=settings_.qualifying_months
        )
        if projection is None or not (today < projection.evaluation_on <= horizon):
            continue
        member = account.member
        with written_for(member.language):
            sent = notify(
                user_id=member.user_id,
                kind=Notification.Kind.TIER_AT_RISK,
                title=_("您的%(tier)s等级将在 %(date)s 评估时调整")
                % {"tier": member.tier.name, "date": projection.evaluation_on.isoformat()},
                body=_(
                    "按目前计入的 %(counted)s 积分，评估后您将调整为%(to)s。"
                    "在 %(date)s 前再获得 %(short)s 积分即可保留%(tier)s等级。"
                )
                % {
                    "counted": projection.counted,
                    "to": projection.drops_to.name,
                    "date": projection.evaluation_on.isoformat(),
                    "short": projection.short,
                    "tier": member.tier.name,
                },
                link="/points/",
                dedupe_key=NOTICE_KEY.format(evaluation=projection.evaluation_on.isoformat()),
            )
        told += sent is not None
    return told
