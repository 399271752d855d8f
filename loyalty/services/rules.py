"""Earning points by rule: events from any app, the daily check-in, join and referral bonuses.

``points_award_for_event`` is the one entry point other apps use (community: comments,
activities, offers; share: verified shares). Every award is idempotent by its natural key: the
ledger entry's key is ``award:r<rule>:<natural key>``, unique in the database, so an event
delivered twice awards once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import errors, policy
from loyalty.models import (
    Bucket,
    EarningRule,
    EntryKind,
    LoyaltySettings,
    PendingAward,
    PointsAccount,
    PointsEntry,
    Trigger,
)
from loyalty.services import _core
from members.models import Member
from members.selectors import is_zombie

# The sweep looks this far back for newly admitted members (joined / referral bonuses).
JOIN_SWEEP_DAYS = 7


@dataclass(frozen=True)
class Award:
    """What one rule did for one event."""

    rule: EarningRule
    points: int
    pending: bool
    created: bool
    skipped: str = ""  # "", "capped"


def active_rules(trigger: str, *, now: datetime, event_code: str = "") -> list[EarningRule]:
    rules = EarningRule.objects.filter(enabled=True, trigger=trigger).filter(
        Q(active_from__isnull=True) | Q(active_from__lte=now),
        Q(active_until__isnull=True) | Q(active_until__gt=now),
    )
    if trigger == Trigger.CUSTOM:
        rules = rules.filter(event_code=event_code)
    return list(rules.prefetch_related("target_tiers", "multipliers").order_by("pk"))


def rule_applies(rule: EarningRule, member: Member) -> bool:
    """Whether the rule is for this member: their tier and their segment must both be targeted.

    An empty target list means "everyone". Segments come from the nightly classification
    (``members.segments``); a member not yet classified matches only rules without segments.
    """
    targets = {tier.pk for tier in rule.target_tiers.all()}
    if targets and member.tier_id not in targets:
        return False
    return not rule.target_segments or member.segment in rule.target_segments


def _multiplier(rule: EarningRule, member: Member):
    for row in rule.multipliers.all():
        if row.tier_id == member.tier_id:
            return row.multiplier
    return None


def _capped(account: PointsAccount, rule: EarningRule, now: datetime) -> bool:
    """Whether the member already had as many awards of this rule as a cap allows."""
    awards = PointsEntry.objects.filter(account=account, rule=rule, kind=EntryKind.EARN)
    for cap, period in (
        (rule.cap_per_day, "day"),
        (rule.cap_per_week, "week"),
        (rule.cap_per_month, "month"),
    ):
        if cap is not None and (
            awards.filter(created_at__gte=policy.period_start(period, now)).count() >= cap
        ):
            return True
    return rule.cap_lifetime is not None and awards.count() >= rule.cap_lifetime


def award_locked(
    account: PointsAccount,
    *,
    trigger: str,
    natural_key: str,
    reference: _core.Reference,
    now: datetime,
    actor=None,
    event_code: str = "",
    rules: list[EarningRule] | None = None,
) -> list[Award]:
    """Award every matching rule. Precondition: the account row is locked."""
    from loyalty.services import tiers

    member = account.member
    if member.state != Member.State.MEMBER:
        return []
    settings_ = None
    results: list[Award] = []
    qualifying = False
    for rule in (
        rules if rules is not None else active_rules(trigger, now=now, event_code=event_code)
    ):
        if not rule_applies(rule, member):
            continue
        key = f"award:r{rule.pk}:{natural_key}"[:200]
        existing = PointsEntry.objects.filter(idempotency_key=key).values_list("amount", "bucket")
        if existing:
            amount, bucket = existing[0]
            results.append(Award(rule, amount, bucket == Bucket.PENDING, created=False))
            continue
        if _capped(account, rule, now):
            results.append(Award(rule, 0, False, created=False, skipped="capped"))
            continue
        points = policy.apply_multiplier(rule.points, _multiplier(rule, member))
        if rule.pending_days:
            entry = _core.post(
                account, amount=points, kind=EntryKind.EARN, bucket=Bucket.PENDING, key=key,
                reason=rule.name, now=now, actor=actor, reference=reference, rule=rule,
            )  # fmt: skip
            PendingAward.objects.create(
                account=account,
                rule=rule,
                natural_key=natural_key[:160],
                amount=points,
                release_at=now + timedelta(days=rule.pending_days),
                entry=entry,
                created_at=now,
            )
        else:
            settings_ = settings_ or LoyaltySettings.load()
            entry = _core.post(
                account, amount=points, kind=EntryKind.EARN, key=key, reason=rule.name, now=now,
                actor=actor, reference=reference, rule=rule, qualifying_at=now,
            )  # fmt: skip
            _core.lot_create(account, entry, now=now, settings_=settings_)
            qualifying = True
        results.append(Award(rule, points, bool(rule.pending_days), created=True))
        _core.balance_event(
            account, "points_awarded", points=points, pending_award=bool(rule.pending_days),
            reason=rule.name,
        )  # fmt: skip
    if qualifying:
        tiers.check_upgrade(account, now=now)
    return results


def points_award_for_event(
    *,
    member: Member,
    trigger: str,
    natural_key: str,
    reference: _core.Reference = None,
    actor=None,
    event_code: str = "",
    now: datetime | None = None,
) -> list[Award]:
    """Award the points the active rules give for an event; safe to call again for the same event.

    ``natural_key`` names the event (``comment:<id>``, ``share:<id>``, ``activity:<id>:<member>``).
    Members who are not admitted earn nothing. Caps count awards per member per rule.
    """
    if trigger not in Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    now = now or timezone.now()
    rules = active_rules(trigger, now=now, event_code=event_code)
    if not rules or member.state != Member.State.MEMBER:
        return []
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        return award_locked(
            account, trigger=trigger, natural_key=natural_key, reference=reference, now=now,
            actor=actor, event_code=event_code, rules=rules,
        )  # fmt: skip


def points_checkin(*, member: Member, now: datetime | None = None) -> list[Award]:
    """The member's daily check-in: once per local day, per the daily check-in rules."""
    now = now or timezone.now()
    if member.state == Member.State.SUSPENDED:
        raise errors.AccountSuspended
    if member.state != Member.State.MEMBER:
        raise errors.NotAMember
    rules = [r for r in active_rules(Trigger.DAILY_CHECKIN, now=now) if rule_applies(r, member)]
    if not rules or not LoyaltySettings.load().checkin_enabled:
        raise errors.CheckinUnavailable
    day = timezone.localdate(now).isoformat()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        awards = award_locked(
            account, trigger=Trigger.DAILY_CHECKIN, natural_key=f"checkin:{member.pk}:{day}",
            reference=("checkin", day), now=now, rules=rules,
        )  # fmt: skip
    if not any(award.created for award in awards):
        if any(award.skipped == "capped" for award in awards):
            raise errors.DomainError(_("签到次数已达上限。"))
        raise errors.AlreadyCheckedIn
    return awards


def member_events_sweep(*, now: datetime | None = None) -> int:
    """Join and referral bonuses for members admitted recently; idempotent by natural key.

    Admission lives in the members app; rather than hooking into it, this job looks at recently
    admitted members every few minutes. The natural keys make a second pass award nothing.
    Invitees flagged as suspected zombie accounts earn their inviter nothing: buying bot accounts
    must not pay. If the nightly re-evaluation clears the flag within the sweep window, the
    bonus follows on the next pass.
    """
    now = now or timezone.now()
    since = now - timedelta(days=JOIN_SWEEP_DAYS)
    recent = Member.objects.filter(state=Member.State.MEMBER, joined_at__gte=since).select_related(
        "tier", "invited_by"
    )
    events = [
        (Trigger.JOINED, member, f"joined:{member.pk}", ("joined", member.pk)) for member in recent
    ] + [
        (Trigger.REFERRAL_JOINED, invitee.invited_by, f"referral:{invitee.pk}",
         ("referral", invitee.pk))
        for invitee in recent if invitee.invited_by_id and not is_zombie(invitee)
    ]  # fmt: skip
    rules_by_trigger = {
        trigger: active_rules(trigger, now=now)
        for trigger in (Trigger.JOINED, Trigger.REFERRAL_JOINED)
    }
    keys = {
        f"award:r{rule.pk}:{natural_key}"
        for trigger, _member, natural_key, _ref in events
        for rule in rules_by_trigger[trigger]
    }
    done = set(
        PointsEntry.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    awarded = 0
    for trigger, beneficiary, natural_key, reference in events:
        wanted = {f"award:r{rule.pk}:{natural_key}" for rule in rules_by_trigger[trigger]}
        if not wanted or wanted <= done:
            continue
        awards = points_award_for_event(
            member=beneficiary, trigger=trigger, natural_key=natural_key, reference=reference,
            now=now,
        )  # fmt: skip
        awarded += sum(award.created for award in awards)
    return awarded
