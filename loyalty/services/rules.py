"""Earning points by rule: events from any app, the daily check-in, join and referral bonuses.

``points_award_for_event`` is the one entry point other apps use (community: comments,
activities, offers; share: verified shares). Every award is idempotent by its natural key: the
ledger entry's key is ``award:r<rule>:<natural key>``, unique in the database, so an event
delivered twice awards once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
from members.models import Member, zombie_audience_admits
from members.selectors import birthday_on, is_zombie

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
    """Whether the rule is for this member: their tier, their segment and their zombie flag
    must all be in the rule's audience.

    An empty target list means "everyone". Segments come from the nightly classification
    (``members.segments``); a member not yet classified matches only rules without segments.
    The zombie flag is set at login and re-checked nightly (``members.selectors.is_zombie``).
    """
    targets = {tier.pk for tier in rule.target_tiers.all()}
    if targets and member.tier_id not in targets:
        return False
    if not zombie_audience_admits(rule.zombie_audience, is_zombie(member)):
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
    """Join, referral and completed-profile bonuses of recent events; idempotent by natural key.

    Admission lives in the members app; rather than hooking into it, this job looks at recently
    admitted members every few minutes. A completed profile is rewarded at once by the task the
    member's save enqueues (``points_award_profile_completed``); the sweep also looks at
    profiles completed recently, so an award whose task was lost still comes. The natural keys
    make a second pass award nothing.
    Invitees flagged as suspected zombie accounts earn their inviter nothing: buying bot accounts
    must not pay. If the nightly re-evaluation clears the flag within the sweep window, the
    bonus follows on the next pass.
    """
    now = now or timezone.now()
    since = now - timedelta(days=JOIN_SWEEP_DAYS)
    recent = Member.objects.filter(state=Member.State.MEMBER, joined_at__gte=since).select_related(
        "tier", "invited_by"
    )
    completed = Member.objects.filter(
        state=Member.State.MEMBER, profile_completed_at__gte=since
    ).select_related("tier")
    events = [
        (Trigger.JOINED, member, f"joined:{member.pk}", ("joined", member.pk)) for member in recent
    ] + [
        (Trigger.PROFILE_COMPLETED, member, profile_key(member.pk), ("profile", member.pk))
        for member in completed
    ] + [
        (Trigger.REFERRAL_JOINED, invitee.invited_by, f"referral:{invitee.pk}",
         ("referral", invitee.pk))
        for invitee in recent if invitee.invited_by_id and not is_zombie(invitee)
    ]  # fmt: skip
    rules_by_trigger = {
        trigger: active_rules(trigger, now=now)
        for trigger in (Trigger.JOINED, Trigger.REFERRAL_JOINED, Trigger.PROFILE_COMPLETED)
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


# --- Profile and birthday -----------------------------------------------------------------------


def profile_key(member_id: int) -> str:
    """The natural key of the completed-profile award: one per member, for ever."""
    return f"profile:{member_id}"


def points_award_profile_completed(*, member_id: int, now: datetime | None = None) -> list[Award]:
    """The "完善资料" award of a member whose profile is complete; safe to call any number of
    times (the natural key ``profile:<member>`` pays once, whatever the member edits later).

    Called from the task the member's own save enqueues after commit (``members.hooks``), and
    by the sweep as a safety net. ``Member.profile_completed_at`` is the fact it trusts: set
    once, by the members service, when the profile's fields were first all filled.
    """
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is None or member.profile_completed_at is None:
        return []
    return points_award_for_event(
        member=member, trigger=Trigger.PROFILE_COMPLETED, natural_key=profile_key(member.pk),
        reference=("profile", member.pk), now=now,
    )  # fmt: skip


def birthday_key(member_id: int, year: int) -> str:
    """The natural key of a birthday award: one per member and calendar year."""
    return f"birthday:{member_id}:{year}"


def _birthdays_due(today: date) -> list[tuple[int, date]]:
    """(member id, birthday this year) of admitted members whose birthday this year fell on a day
    of the current month up to ``today``, and was on file before that day began."""
    last_of_month = policy.add_months(today.replace(day=1), 1) - timedelta(days=1)
    members = Member.objects.filter(
        state=Member.State.MEMBER, birthday_month=today.month, birthday_set_at__isnull=False
    )
    if today != last_of_month:  # on the month's last day, a 29 February falls on the 28th
        members = members.filter(birthday_day__lte=today.day)
    due = []
    for member_id, month, day, set_at in members.values_list(
        "pk", "birthday_month", "birthday_day", "birthday_set_at"
    ).iterator(chunk_size=2000):
        day_of = birthday_on(month, day, today.year)
        if day_of <= today and set_at < policy.local_midnight(day_of):
            due.append((member_id, day_of))
    return due


def points_award_birthdays(*, now: datetime | None = None) -> int:
    """The daily job: the birthday rules' award, once per member and calendar year.

    A member is paid on their birthday in the club's time zone (29 February: on 28 February in
    other years). A day the job did not run is caught up by any later run in the same month;
    after the month it is gone, as a birthday gift is. A birthday recorded on or after the day
    counts from the next year: it cannot be given today to be paid today. Safe to run twice:
    the natural key ``birthday:<member>:<year>`` pays once.
    """
    now = now or timezone.now()
    rules = active_rules(Trigger.BIRTHDAY, now=now)
    if not rules:
        return 0
    today = timezone.localdate(now)
    due = _birthdays_due(today)
    keys = {
        f"award:r{rule.pk}:{birthday_key(member_id, today.year)}"
        for member_id, _day in due
        for rule in rules
    }
    done = set(
        PointsEntry.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    awarded = 0
    for member_id, day_of in due:
        natural_key = birthday_key(member_id, today.year)
        if {f"award:r{rule.pk}:{natural_key}" for rule in rules} <= done:
            continue
        member = Member.objects.select_related("tier").get(pk=member_id)
        awards = points_award_for_event(
            member=member, trigger=Trigger.BIRTHDAY, natural_key=natural_key,
            reference=("birthday", day_of.isoformat()), now=now,
        )  # fmt: skip
        awarded += sum(award.created for award in awards)
    return awarded
