"""Points outside of rules and rewards: spending, refunds, staff corrections, pending points,
expiry and reminders.

Each public function is one transaction that locks the member's row and account row first, in
the order of ``core.locking`` (actions that never write the member row lock the account only).
Staff actions and automated decisions (expiry, release of pending points) write an audit entry in
the same transaction; real-time events go out after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Func, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.locking import Lock, lock_key, lock_rows
from loyalty import errors
from loyalty.models import (
    Bucket,
    EntryKind,
    ExpiryReminder,
    LoyaltySettings,
    PendingAward,
    PointsAccount,
    PointsEntry,
    PointsLot,
)
from loyalty.services import _core, tiers
from members.models import Member

PERM_ADJUST_UNLIMITED = "loyalty.adjust_points_unlimited"
# Advisory lock (space, actor id) at Lock.STOCK: an operator's daily limit is a counter shared by
# all the members they correct, so one correction per operator at a time.
_ADJUST_LOCK_SPACE = 7_310_100
REVERSIBLE_KINDS = (EntryKind.EARN, EntryKind.APPROVE, EntryKind.ADJUST)
JOB_BATCH = 500


# --- Spending and refunds (for other apps: e.g. an offer with a points price) -------------------


def points_spend(
    *,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    reference: _core.Reference = None,
    actor=None,
    now: datetime | None = None,
) -> PointsEntry:
    """Take ``amount`` points from the member, earliest-expiring lots first; once per key.

    Locks the account only (a spend never writes the member row).
    """
    if amount <= 0:
        raise ValueError("spend a positive amount")
    now = now or timezone.now()
    key = f"spend:{member.pk}:{idempotency_key}"[:200]
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now, with_member=False)
        existing = PointsEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        if account.member.state == Member.State.SUSPENDED:
            raise errors.AccountSuspended
        if account.member.state != Member.State.MEMBER:
            raise errors.NotAMember
        _core.expire_due(account, now=now)
        if account.balance < amount:
            raise errors.InsufficientPoints.for_amounts(need=amount, have=account.balance)
        entry = _core.post(
            account, amount=-amount, kind=EntryKind.REDEEM, key=key, reason=reason, now=now,
            actor=actor, reference=reference,
        )  # fmt: skip
        _core.consume(account, entry, amount, now=now)
    return entry


def points_refund(
    *, entry: PointsEntry, reason: str, actor=None, now: datetime | None = None
) -> PointsEntry:
    """Give back a spend (not a reward redemption: cancel that instead); once per spend.

    The refund restores the lots the spend consumed; points of lots that expired meanwhile are
    expired again at once, so a late refund never brings back expired points.
    """
    now = now or timezone.now()
    reason = _core.require_reason(reason)
    with transaction.atomic():
        account = _core.account_lock_by_pk(entry.account_id, with_member=False)
        entry = PointsEntry.objects.get(pk=entry.pk)
        if entry.kind != EntryKind.REDEEM or entry.redemption_id:
            raise errors.NotReversible
        existing = PointsEntry.objects.filter(reverses=entry).first()
        if existing is not None:
            return existing
        refund = _core.post(
            account, amount=-entry.amount, kind=EntryKind.REFUND, key=f"refund:{entry.pk}",
            reason=reason, now=now, actor=actor, reverses=entry,
            reference=(entry.reference_type, entry.reference_id) if entry.reference_type else None,
        )  # fmt: skip
        _core.restore(account, entry, refund, now=now)
        _core.balance_event(account, "points_refunded", points=refund.amount)
    return refund


# --- Staff corrections --------------------------------------------------------------------------


def _adjusted_today(actor, now: datetime) -> int:
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    total = PointsEntry.objects.filter(
        kind=EntryKind.ADJUST, actor=actor, created_at__gte=start
    ).aggregate(total=Sum(Func("amount", function="ABS")))["total"]
    return total or 0


def points_adjust(
    *,
    member: Member,
    amount: int,
    reason: str,
    actor,
    counts_for_tier: bool = False,
    idempotency_key: str = "",
    ip: str | None = None,
    now: datetime | None = None,
) -> PointsEntry:
    """A staff correction, up or down, with a mandatory reason, within the operator's daily limit.

    Credits become a lot (expiring per the policy); debits take from lots like a spend. Credits
    count for tier qualification only when staff say so. ``idempotency_key`` (the form's) makes a
    double-submitted form adjust once.
    """
    now = now or timezone.now()
    reason = _core.require_reason(reason)
    if not amount:
        raise errors.DomainError(_("调整数量不能为 0。"))
    settings_ = LoyaltySettings.load()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        key = f"adjust:{account.pk}:{idempotency_key or now.isoformat()}:{actor.pk}"[:200]
        existing = PointsEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        if not actor.has_perm(PERM_ADJUST_UNLIMITED):
            lock_key(Lock.STOCK, _ADJUST_LOCK_SPACE, actor.pk)
            used = _adjusted_today(actor, now)
            if used + abs(amount) > settings_.staff_daily_adjust_limit:
                raise errors.AdjustLimitExceeded(
                    _("超出今天的调整额度：额度 %(limit)s，已用 %(used)s，本次 %(amount)s。")
                    % {
                        "limit": settings_.staff_daily_adjust_limit,
                        "used": used,
                        "amount": abs(amount),
                    }
                )
        before = account.balance
        if amount > 0:
            entry = _core.post(
                account, amount=amount, kind=EntryKind.ADJUST, key=key, reason=reason, now=now,
                actor=actor, reference=("staff", actor.pk),
                qualifying_at=now if counts_for_tier else None,
            )  # fmt: skip
            _core.lot_create(account, entry, now=now, settings_=settings_)
            if counts_for_tier:
                tiers.check_upgrade(account, now=now)
        else:
            _core.expire_due(account, now=now)
            if account.balance < -amount:
                raise errors.InsufficientPoints.for_amounts(need=-amount, have=account.balance)
            entry = _core.post(
                account, amount=amount, kind=EntryKind.ADJUST, key=key, reason=reason, now=now,
                actor=actor, reference=("staff", actor.pk),
            )  # fmt: skip
            _core.consume(account, entry, -amount, now=now)
        audit_record(
            action="points.adjusted",
            actor=actor,
            target=account.member,
            before={"balance": before},
            after={"balance": account.balance, "amount": amount, "entry": entry.pk},
            reason=reason,
            ip=ip,
        )
        _core.balance_event(account, "points_adjusted", points=amount, reason=reason)
    return entry


def points_reverse(
    *, entry: PointsEntry, reason: str, actor, ip: str | None = None, now: datetime | None = None
) -> PointsEntry:
    """Compensate an earn, an approval or an adjustment with an opposite entry (once).

    Taking back a credit uses the credit's own lot first, then the earliest-expiring others, and
    is refused if the member no longer has the points. Undoing a debit restores its lots.
    """
    now = now or timezone.now()
    reason = _core.require_reason(reason)
    with transaction.atomic():
        account = _core.account_lock_by_pk(entry.account_id)
        entry = PointsEntry.objects.get(pk=entry.pk)
        if entry.kind not in REVERSIBLE_KINDS or entry.bucket != Bucket.AVAILABLE:
            raise errors.NotReversible
        if PointsEntry.objects.filter(reverses=entry).exists():
            raise errors.AlreadyReversed
        before = account.balance
        key = f"reverse:{entry.pk}"
        if entry.amount > 0:
            _core.expire_due(account, now=now)
            if account.balance < entry.amount:
                raise errors.InsufficientPoints(
                    _("会员现有 %(have)s 积分，不足以冲正 %(amount)s 积分。")
                    % {"have": account.balance, "amount": entry.amount}
                )
            reversal = _core.post(
                account, amount=-entry.amount, kind=EntryKind.REVERSE, key=key, reason=reason,
                now=now, actor=actor, reverses=entry, rule=entry.rule,
                qualifying_at=entry.qualifying_at,
            )  # fmt: skip
            lot = PointsLot.objects.filter(entry=entry).values_list("pk", flat=True).first()
            _core.consume(account, reversal, entry.amount, now=now, first_lot_id=lot)
        else:
            reversal = _core.post(
                account, amount=-entry.amount, kind=EntryKind.REVERSE, key=key, reason=reason,
                now=now, actor=actor, reverses=entry,
            )  # fmt: skip
            _core.restore(account, entry, reversal, now=now)
        audit_record(
            action="points.reversed",
            actor=actor,
            target=account.member,
            before={"balance": before, "entry": entry.pk},
            after={"balance": account.balance, "reversal": reversal.pk},
            reason=reason,
            ip=ip,
        )
        _core.balance_event(account, "points_adjusted", points=reversal.amount, reason=reason)
    return reversal


# --- Pending points -----------------------------------------------------------------------------


def _approve(award: PendingAward, account: PointsAccount, *, now: datetime, actor=None) -> None:
    """Move a pending award to the balance; its lot starts now. Precondition: both locked.

    A partner's accrual counts toward tiers only when staff ticked that partner's
    ``counts_for_tier``."""
    partner = award.partner
    qualifies = partner is None or partner.counts_for_tier
    if partner is not None:
        reason = _("合作伙伴积分：%(partner)s") % {"partner": partner.name}
    else:
        reason = award.rule.name if award.rule else _("待确认积分已确认")
    _core.post(
        account, amount=-award.amount, kind=EntryKind.APPROVE, bucket=Bucket.PENDING,
        key=f"approve:{award.pk}:pending", reason=_("待确认积分已确认"), now=now, actor=actor,
        reference=award, rule=award.rule, partner=partner,
    )  # fmt: skip
    credit = _core.post(
        account, amount=award.amount, kind=EntryKind.APPROVE, key=f"approve:{award.pk}",
        reason=reason, now=now, actor=actor, reference=award, rule=award.rule,
        qualifying_at=now if qualifies else None, partner=partner,
    )  # fmt: skip
    _core.lot_create(account, credit, now=now, settings_=LoyaltySettings.load())
    award.state = PendingAward.State.APPROVED
    award.approve_entry = credit
    award.decided_at = now
    award.save(update_fields=["state", "approve_entry", "decided_at"])


def _cancel(
    award: PendingAward, account: PointsAccount, *, reason: str, now: datetime, actor=None
) -> None:
    entry = _core.post(
        account, amount=-award.amount, kind=EntryKind.CANCEL_PENDING, bucket=Bucket.PENDING,
        key=f"cancel:{award.pk}", reason=reason, now=now, actor=actor, reference=award,
        rule=award.rule, partner=award.partner,
    )  # fmt: skip
    award.state = PendingAward.State.CANCELLED
    award.cancel_entry = entry
    award.decided_at = now
    award.decision_reason = reason[:200]
    award.save(update_fields=["state", "cancel_entry", "decided_at", "decision_reason"])


def _resolve(
    *, member: Member, natural_key: str, approve: bool, reason: str, actor, now: datetime | None
) -> int:
    now = now or timezone.now()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        (awards,) = lock_rows(
            (
                Lock.POINTS_ACCOUNT,
                PendingAward.objects.select_related("rule", "partner").filter(
                    account=account, natural_key=natural_key, state=PendingAward.State.PENDING
                ),
            )
        )
        for award in awards:
            if approve:
                _approve(award, account, now=now, actor=actor)
            else:
                _cancel(award, account, reason=reason, now=now, actor=actor)
        if awards:
            if approve:
                tiers.check_upgrade(account, now=now)
            audit_record(
                action="points.pending_approved" if approve else "points.pending_cancelled",
                actor=actor,
                target=member,
                after={"natural_key": natural_key, "points": sum(a.amount for a in awards)},
                reason=reason,
                rule="" if getattr(actor, "pk", None) else "loyalty.pending_event",
            )
            _core.balance_event(
                account, "points_pending_approved" if approve else "points_pending_cancelled",
                points=sum(a.amount for a in awards),
            )  # fmt: skip
    return len(awards)


def points_pending_approve(
    *, member: Member, natural_key: str, actor=None, now: datetime | None = None
) -> int:
    """The event confirmed (share verified, attendance confirmed): pending points become usable."""
    return _resolve(
        member=member, natural_key=natural_key, approve=True, reason=_("事件已确认"), actor=actor,
        now=now,
    )  # fmt: skip


def points_pending_cancel(
    *, member: Member, natural_key: str, reason: str, actor=None, now: datetime | None = None
) -> int:
    """The event fell through (share deleted, no-show): the pending points are withdrawn."""
    reason = _core.require_reason(reason)
    return _resolve(
        member=member, natural_key=natural_key, approve=False, reason=reason, actor=actor, now=now
    )


def points_release_due(*, now: datetime | None = None) -> int:
    """The job: approve pending awards whose pending period has ended; one account at a time."""
    now = now or timezone.now()
    released = 0
    while True:
        account_ids = list(
            PendingAward.objects.filter(state=PendingAward.State.PENDING, release_at__lte=now)
            .values_list("account_id", flat=True)
            .distinct()[:JOB_BATCH]
        )
        if not account_ids:
            return released
        for account_id in account_ids:
            with transaction.atomic():
                account = _core.account_lock_by_pk(account_id)
                (awards,) = lock_rows(
                    (
                        Lock.POINTS_ACCOUNT,
                        PendingAward.objects.select_related("rule", "partner").filter(
                            account=account, state=PendingAward.State.PENDING, release_at__lte=now
                        ),
                    )
                )
                for award in awards:
                    _approve(award, account, now=now)
                if awards:
                    tiers.check_upgrade(account, now=now)
                    points = sum(a.amount for a in awards)
                    audit_record(
                        action="points.pending_released",
                        target=account.member,
                        after={"awards": [a.pk for a in awards], "points": points},
                        rule="loyalty.pending_period",
                    )
                    _core.balance_event(account, "points_pending_approved", points=points)
                released += len(awards)


# --- Expiry -------------------------------------------------------------------------------------


def points_expire_due(*, now: datetime | None = None) -> int:
    """The nightly job: an explicit expire entry for the remainder of every lot past its expiry."""
    now = now or timezone.now()
    expired = 0
    while True:
        account_ids = list(
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now)
            .values_list("account_id", flat=True)
            .distinct()[:JOB_BATCH]
        )
        if not account_ids:
            return expired
        for account_id in account_ids:
            with transaction.atomic():
                account = _core.account_lock_by_pk(account_id)
                points = _core.expire_due(account, now=now)
                if points:
                    audit_record(
                        action="points.expired",
                        target=account.member,
                        after={"points": points, "balance": account.balance},
                        rule="loyalty.expiry",
                    )
                    _core.balance_event(account, "points_expired", points=points)
                expired += points


def points_expire_account(*, member: Member, now: datetime | None = None) -> int:
    """Expire one member's due lots now (what the nightly job does for everyone)."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        points = _core.expire_due(account, now=now)
        if points:
            audit_record(
                action="points.expired",
                target=account.member,
                after={"points": points, "balance": account.balance},
                rule="loyalty.expiry",
            )
            _core.balance_event(account, "points_expired", points=points)
    return points


def points_expiry_remind(*, now: datetime | None = None) -> int:
    """Tell members, once per expiry date, about points expiring within the reminder window.

    The ``ExpiryReminder`` row is the persisted notification (unique per account and date); the
    real-time event goes out after it commits.
    """
    now = now or timezone.now()
    settings_ = LoyaltySettings.load()
    if settings_.expiry_policy == LoyaltySettings.ExpiryPolicy.NEVER:
        return 0
    horizon = now + timedelta(days=settings_.reminder_days)
    groups = (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gt=now, expires_at__lte=horizon)
        .values("account_id", "expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at", "account_id")
    )
    sent = 0
    for group in groups.iterator(chunk_size=1000):
        with transaction.atomic():
            reminder, created = ExpiryReminder.objects.get_or_create(
                account_id=group["account_id"],
                expires_at=group["expires_at"],
                defaults={"points": group["points"], "created_at": now},
            )
            if not created:
                continue
            member = Member.objects.only("user_id").get(points_account__pk=group["account_id"])
            last_day = timezone.localtime(group["expires_at"] - timedelta(seconds=1)).date()
            _core.member_event(
                member,
                {
                    "kind": "points_expiring",
                    "points": group["points"],
                    "expires_on": last_day.isoformat(),
                    "title": _("积分即将过期"),
                    "body": _("您有 %(points)s 积分将于 %(day)s 后过期，记得尽快使用。")
                    % {"points": group["points"], "day": last_day.isoformat()},
                    "link": "/points/expiry/",
                },
            )
            sent += 1
    return sent


def points_account_lock(*, member: Member) -> None:
    """Lock the member's row and points account (creating it) in the caller's transaction.

    For another app's service that will call loyalty later in its transaction (an offer claim
    charges a price and earns points after locking the offer's stock): it takes the account
    here, before its own stock and codes, as ``core.locking`` orders; loyalty's later lock of the
    same account then waits for nobody.
    """
    _core.account_lock(member.pk)


def points_spend_for_offer(*, member: Member, offer, claim, points: int, idempotency_key: str):
    """Charge an offer's points price inside the claim's transaction (called by community).

    Precondition: the claim locked the account (``points_account_lock``) before the offer's
    inventory, so this re-lock waits for nobody and the order of ``core.locking`` holds.
    """
    from django.utils.translation import gettext as _

    return points_spend(
        member=member, amount=points, idempotency_key=idempotency_key,
        reason=_("领取优惠：%(title)s") % {"title": offer.title}, reference=claim,
    )  # fmt: skip


def points_spend_refund_for_offer(*, member: Member, claim, reason: str, actor=None) -> int:
    """Give back the points price an offer claim charged (its claim is being cancelled); the
    points refunded, 0 for a free offer. Safe to call again: a spend is refunded once.

    Precondition, as for the charge: the caller locked the account before the offer's stock.
    """
    key = f"spend:{member.pk}:offer-claim:{claim.idempotency_key}"[:200]
    spend = PointsEntry.objects.filter(idempotency_key=key, kind=EntryKind.REDEEM).first()
    if spend is None:
        return 0
    return points_refund(entry=spend, reason=reason, actor=actor).amount
