"""Coalition partners on the one ledger: linking, accruals, holds, captures, voids and refunds.

Locks, in the order of ``core.locking``: a call that may change what a link allows (link,
unlink) or adds points (accrue, place a hold) locks the member, then their points account
(``_core.account_lock``); a call on an existing hold or accrual locks the account, then the hold
or award (rows that belong to the account). Unlinking takes the member and the account, so it
is ordered against every partner call of that member: a call after it sees the link ended.

A member's own redemption locks the same account row, so a partner hold and a redemption
racing for the same points are serialised there: the second one sees the balance the first
one left (``tests/partners/test_race.py``).

Partner points are ordinary entries carrying ``partner``: an accrual is a pending ``earn``
(a ``PendingAward`` released by the partner's confirmation or after
``Partner.accrual_pending_hours`` by the ``loyalty.release_pending`` job); a hold is a
``redeem`` entry taking from lots; a void, an expiry or a refund is one ``refund`` entry
reversing it and restoring the lots (``reference_type`` ``partner.release`` or
``partner.refund``, which settlement reads).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import NotFound
from core.locking import Lock, lock_one, lock_rows
from loyalty import errors, policy
from loyalty.models import (
    Bucket,
    EntryKind,
    PartnerHold,
    PartnerLink,
    PartnerLinkRequest,
    PendingAward,
    PointsAccount,
    PointsEntry,
    SharedField,
)
from loyalty.models_partners import Partner, code_digest
from loyalty.services import _core, tiers
from members.models import Member

LINK_CODE_MINUTES = 10
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till
LINK_CODE_LENGTH = 8
REF_HOLD = "partner.hold"
REF_RELEASE = "partner.release"
REF_REFUND = "partner.refund"
REF_ACCRUAL = "partner.accrual"
JOB_BATCH = 500


# --- Consent and links --------------------------------------------------------------------------


def partner_consent_text(partner: Partner) -> str:
    """The separate consent a member gives one partner (PIPL art. 23), naming what is shared.

    Rendered in the member's language when they confirm; the link keeps this exact text.
    """
    fields = [str(SharedField(value).label) for value in partner.shared_fields]
    shared = "、".join([_("关联编号"), *fields])
    lines = [
        _("我同意俱乐部向“%(partner)s”提供以下个人信息：%(fields)s。")
        % {"partner": partner.name, "fields": shared},
    ]
    if partner.purpose.strip():
        lines.append(_("使用目的：%(purpose)s") % {"purpose": partner.purpose.strip()})
    lines += [
        _(
            "关联后，“%(partner)s”可以为我发放积分，冻结、扣除和退回我在该合作伙伴处使用的积分，"
            "并查看这些记录。"
        )
        % {"partner": partner.name},
        _("我可以随时在“我的 → 合作伙伴”解除关联；解除后该合作伙伴的任何请求都会被拒绝。"),
    ]
    return "\n".join(lines)


def partner_link_request_create(
    *, partner: Partner, partner_reference: str = "", now: datetime | None = None
) -> tuple[PartnerLinkRequest, str]:
    """A one-time link code for the partner to show its customer; the code is returned once."""
    now = now or timezone.now()
    if not partner.is_active:
        raise errors.PartnerSuspended
    for _attempt in range(5):
        code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
        try:
            with transaction.atomic():
                request = PartnerLinkRequest.objects.create(
                    partner=partner,
                    code_sha256=code_digest(code),
                    partner_reference=partner_reference[:100],
                    expires_at=now + timedelta(minutes=LINK_CODE_MINUTES),
                    created_at=now,
                )
            return request, code
        except IntegrityError:  # the same code twice: draw again
            continue
    raise errors.DomainError(_("暂时无法生成关联码，请重试。"))


def link_request_for_code(code: str, *, now: datetime | None = None) -> PartnerLinkRequest:
    """The pending, unexpired request of a code, with its partner; else ``LinkCodeInvalid``."""
    now = now or timezone.now()
    request = (
        PartnerLinkRequest.objects.select_related("partner")
        .filter(code_sha256=code_digest(code or ""), state=PartnerLinkRequest.State.PENDING)
        .first()
    )
    if request is None or request.expires_at <= now:
        raise errors.LinkCodeInvalid
    if not request.partner.is_active:
        raise errors.PartnerSuspended
    return request


def partner_link_confirm(
    *, member: Member, code: str, consent_sha256: str, ip: str | None, now: datetime | None = None
) -> PartnerLink:
    """The member confirms a partner's code and the consent text they were shown: linked.

    ``consent_sha256`` is the digest of the ``partner_consent_text`` the page showed; if the
    partner's terms changed in between, the member is asked to read them again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lock_one(Lock.MEMBER, Member.objects.filter(pk=member.pk).only("pk"))
        request = link_request_for_code(code, now=now)
        request = lock_one(
            Lock.CODES, PartnerLinkRequest.objects.select_related("partner").filter(pk=request.pk)
        )
        if request.state != PartnerLinkRequest.State.PENDING:
            raise errors.LinkCodeInvalid
        member = Member.objects.get(pk=member.pk)
        if member.state == Member.State.SUSPENDED:
            raise errors.AccountSuspended
        if member.state != Member.State.MEMBER:
            raise errors.NotAMember
        partner = request.partner
        expected = partner_consent_text(partner)
        if consent_sha256 != PartnerLink.digest(expected):
            raise errors.DomainError(_("合作伙伴的授权说明已更新，请阅读后重新确认。"))
        if PartnerLink.objects.filter(
            partner=partner, member=member, state=PartnerLink.State.LINKED
        ).exists():
            raise errors.AlreadyLinked
        link = PartnerLink.objects.create(
            partner=partner,
            member=member,
            partner_reference=request.partner_reference,
            shared_fields=list(partner.shared_fields),
            consent_text=expected,
            consent_sha256=PartnerLink.digest(expected),
            linked_at=now,
            linked_ip=ip,
        )
        request.state = PartnerLinkRequest.State.CONFIRMED
        request.link = link
        request.save(update_fields=["state", "link"])
        audit_record(
            action="partner.linked",
            actor=member.user,
            target=member,
            after={
                "partner": partner.code,
                "link": link.public_id,
                "shared_fields": link.shared_fields,
                "consent_sha256": link.consent_sha256,
            },
            ip=ip,
        )
    return link


def partner_unlink(
    *, member: Member, link: PartnerLink, ip: str | None, now: datetime | None = None
) -> PartnerLink:
    """The member ends a link: every later call of the partner for them is refused, and points
    the partner still holds for them come back at once (pending accruals still settle)."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        link = lock_one(Lock.POINTS_ACCOUNT, PartnerLink.objects.filter(pk=link.pk, member=member))
        if link is None or link.state != PartnerLink.State.LINKED:
            raise errors.NotLinked
        (holds,) = lock_rows(
            (
                Lock.POINTS_ACCOUNT,
                PartnerHold.objects.select_related("partner", "entry").filter(
                    link=link, state=PartnerHold.State.HELD
                ),
            )
        )
        for hold in holds:
            _release(hold, account, state=PartnerHold.State.VOIDED, now=now)
        link.state = PartnerLink.State.UNLINKED
        link.unlinked_at = now
        link.save(update_fields=["state", "unlinked_at"])
        audit_record(
            action="partner.unlinked",
            actor=member.user,
            target=member,
            before={"partner": link.partner.code, "link": link.public_id},
            after={"released_holds": [hold.pk for hold in holds]},
            ip=ip,
        )
    return link


# --- Accruals -----------------------------------------------------------------------------------


def _live_link(link_id: int, partner: Partner) -> PartnerLink:
    """Precondition: the member's lock is held (unlinking takes it), so the answer holds."""
    link = PartnerLink.objects.filter(pk=link_id, partner=partner).first()
    if link is None or link.state != PartnerLink.State.LINKED:
        raise errors.NotLinked
    return link


def _member_may_use_points(member: Member) -> None:
    if member.state == Member.State.SUSPENDED:
        raise errors.AccountSuspended
    if member.state != Member.State.MEMBER:
        raise errors.NotAMember


def _period_starts(now: datetime) -> tuple[datetime, datetime]:
    return policy.period_start("day", now), policy.period_start("month", now)


def _check_limit(used: int, amount: int, limit: int | None, label: str) -> None:
    if limit is not None and used + amount > limit:
        raise errors.PartnerLimitExceeded(
            _("超出该合作伙伴%(period)s的限额：上限 %(limit)s，已用 %(used)s，本次 %(amount)s。")
            % {"period": label, "limit": limit, "used": used, "amount": amount}
        )


@dataclass(frozen=True)
class AccrualResult:
    award: PendingAward
    replayed: bool


def partner_accrue(
    *,
    partner: Partner,
    link: PartnerLink,
    amount: int,
    idempotency_key: str,
    reference: str = "",
    now: datetime | None = None,
) -> AccrualResult:
    """Points the partner issues to the member: pending until the partner confirms them or
    ``accrual_pending_hours`` pass. Once per ``idempotency_key`` (a retry returns the first)."""
    now = now or timezone.now()
    if amount <= 0:
        raise errors.DomainError(_("积分必须大于 0。"))
    key = f"partner:{partner.pk}:accrue:{idempotency_key}"[:200]
    with transaction.atomic():
        account = _core.account_lock(link.member_id, now=now)
        existing = PendingAward.objects.filter(entry__idempotency_key=key).first()
        if existing is not None:
            return AccrualResult(existing, replayed=True)
        partner = Partner.objects.get(pk=partner.pk)
        if not partner.is_active:
            raise errors.PartnerSuspended
        _live_link(link.pk, partner)
        _member_may_use_points(account.member)
        day, month = _period_starts(now)
        issued = PointsEntry.objects.filter(
            account=account, partner=partner, kind=EntryKind.EARN, bucket=Bucket.PENDING,
            created_at__gte=month,
        ).aggregate(
            month=Sum("amount"), day=Sum("amount", filter=Q(created_at__gte=day))
        )  # fmt: skip
        _check_limit(issued["day"] or 0, amount, partner.earn_limit_day, _("每日"))
        _check_limit(issued["month"] or 0, amount, partner.earn_limit_month, _("每月"))
        entry = _core.post(
            account, amount=amount, kind=EntryKind.EARN, bucket=Bucket.PENDING, key=key,
            reason=_("合作伙伴积分（待确认）：%(partner)s") % {"partner": partner.name},
            now=now, reference=(REF_ACCRUAL, reference or idempotency_key), partner=partner,
        )  # fmt: skip
        award = PendingAward.objects.create(
            account=account,
            partner=partner,
            natural_key=f"partner:{partner.pk}:{idempotency_key}"[:160],
            amount=amount,
            release_at=now + timedelta(hours=partner.accrual_pending_hours),
            entry=entry,
            created_at=now,
        )
        _core.balance_event(account, "partner_accrued", points=amount, partner=partner.name)
    return AccrualResult(award, replayed=False)


def _locked_award(partner: Partner, award_id: int) -> tuple[PointsAccount, PendingAward]:
    account_id = (
        PendingAward.objects.filter(pk=award_id, partner=partner)
        .values_list("account_id", flat=True)
        .first()
    )
    if account_id is None:
        raise NotFound
    account = _core.account_lock_by_pk(account_id)
    award = lock_one(
        Lock.POINTS_ACCOUNT,
        PendingAward.objects.select_related("partner").filter(pk=award_id, partner=partner),
    )
    return account, award


Row = TypeVar("Row", PendingAward, PartnerHold)


def _transition(
    locked: Callable[[], tuple[PointsAccount, Row]],
    *,
    source: str,
    target: str,
    conflict: type[errors.DomainError],
    apply: Callable[[PointsAccount, Row], None],
) -> Row:
    """Move one of a partner's accruals or holds from ``source`` to ``target``, in one
    transaction under the account lock (``locked`` takes it, then the row's).

    Partners retry: a call that finds the row already at ``target`` answers the same and
    writes nothing; any other state is a ``conflict``. Every call needs what a new accrual or
    hold needs (``_require_live``). ``apply`` makes the change, or raises to refuse it.
    """
    with transaction.atomic():
        account, row = locked()
        _require_live(row.partner, account)
        if row.state == target:
            return row
        if row.state != source:
            raise conflict
        apply(account, row)
    return row


def partner_accrual_confirm(
    *, partner: Partner, award_id: int, now: datetime | None = None
) -> PendingAward:
    """The partner confirms an accrual (the stay ended, the goods were kept): points usable.
    Confirming a confirmed accrual again answers the same."""
    from loyalty.services.points import _approve

    now = now or timezone.now()

    def approve(account: PointsAccount, award: PendingAward) -> None:
        _approve(award, account, now=now)
        tiers.check_upgrade(account, now=now)
        _core.balance_event(account, "points_pending_approved", points=award.amount)

    return _transition(
        lambda: _locked_award(partner, award_id), source=PendingAward.State.PENDING,
        target=PendingAward.State.APPROVED, conflict=errors.AccrualStateConflict, apply=approve,
    )  # fmt: skip


def partner_accrual_cancel(
    *, partner: Partner, award_id: int, reason: str = "", now: datetime | None = None
) -> PendingAward:
    """The partner withdraws an accrual still pending (the order was returned)."""
    from loyalty.services.points import _cancel

    now = now or timezone.now()
    reason = (reason or "").strip() or _("合作伙伴取消")

    def cancel(account: PointsAccount, award: PendingAward) -> None:
        _cancel(award, account, reason=reason, now=now)
        _core.balance_event(account, "points_pending_cancelled", points=award.amount)

    return _transition(
        lambda: _locked_award(partner, award_id), source=PendingAward.State.PENDING,
        target=PendingAward.State.CANCELLED, conflict=errors.AccrualStateConflict, apply=cancel,
    )  # fmt: skip


# --- Holds --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldResult:
    hold: PartnerHold
    replayed: bool


def partner_hold(
    *,
    partner: Partner,
    link: PartnerLink,
    amount: int,
    idempotency_key: str,
    reference: str = "",
    now: datetime | None = None,
) -> HoldResult:
    """Reserve ``amount`` of the member's points for a purchase at the partner.

    Takes from the member's lots at once, like a redemption (earliest expiry first), so the
    member cannot spend them elsewhere meanwhile; the hold is captured, voided, or released by
    itself after ``Partner.hold_minutes``. Once per ``idempotency_key``.
    """
    now = now or timezone.now()
    if amount <= 0:
        raise errors.DomainError(_("积分必须大于 0。"))
    key = f"partner:{partner.pk}:hold:{idempotency_key}"[:200]
    with transaction.atomic():
        account = _core.account_lock(link.member_id, now=now)
        previous = PartnerHold.objects.filter(entry__idempotency_key=key).first()
        if previous is not None:
            return HoldResult(previous, replayed=True)
        partner = Partner.objects.get(pk=partner.pk)
        if not partner.is_active:
            raise errors.PartnerSuspended
        link = _live_link(link.pk, partner)
        _member_may_use_points(account.member)
        day, month = _period_starts(now)
        used = PartnerHold.objects.filter(
            account=account, partner=partner, created_at__gte=month,
            state__in=[PartnerHold.State.HELD, PartnerHold.State.CAPTURED],
        ).aggregate(
            month=Sum("amount"), day=Sum("amount", filter=Q(created_at__gte=day))
        )  # fmt: skip
        _check_limit(used["day"] or 0, amount, partner.burn_limit_day, _("每日"))
        _check_limit(used["month"] or 0, amount, partner.burn_limit_month, _("每月"))
        _core.expire_due(account, now=now)
        if account.balance < amount:
            raise errors.InsufficientPoints.for_amounts(need=amount, have=account.balance)
        hold = PartnerHold.objects.create(
            partner=partner,
            account=account,
            link=link,
            amount=amount,
            reference=reference[:100],
            expires_at=now + timedelta(minutes=partner.hold_minutes),
            created_at=now,
        )
        entry = _core.post(
            account, amount=-amount, kind=EntryKind.REDEEM, key=key,
            reason=_("合作伙伴消费：%(partner)s") % {"partner": partner.name}, now=now,
            reference=(REF_HOLD, hold.pk), partner=partner,
        )  # fmt: skip
        _core.consume(account, entry, amount, now=now)
        hold.entry = entry
        hold.save(update_fields=["entry"])
        _core.balance_event(account, "partner_hold", points=-amount, partner=partner.name)
    return HoldResult(hold, replayed=False)


def _release(hold: PartnerHold, account: PointsAccount, *, state: str, now: datetime) -> None:
    """Give a hold's points back into the lots it took from. Precondition: account and hold
    locked, ``hold.entry`` loaded."""
    refund = state == PartnerHold.State.REFUNDED
    name = hold.partner.name
    entry = _core.post(
        account, amount=hold.amount, kind=EntryKind.REFUND, key=f"partner-hold:{hold.pk}:release",
        reason=(_("合作伙伴退款，积分退回：%(partner)s") if refund
                else _("合作伙伴撤销，积分退回：%(partner)s")) % {"partner": name},
        now=now, reverses=hold.entry, reference=(REF_REFUND if refund else REF_RELEASE, hold.pk),
        partner=hold.partner,
    )  # fmt: skip
    _core.restore(account, hold.entry, entry, now=now)
    hold.state = state
    hold.release = entry
    hold.closed_at = now
    hold.save(update_fields=["state", "release", "closed_at"])
    _core.balance_event(account, f"partner_hold_{state}", points=hold.amount, partner=name)


def _locked_hold(partner: Partner, hold_id: int) -> tuple[PointsAccount, PartnerHold]:
    account_id = (
        PartnerHold.objects.filter(pk=hold_id, partner=partner)
        .values_list("account_id", flat=True)
        .first()
    )
    if account_id is None:
        raise NotFound
    account = _core.account_lock_by_pk(account_id, with_member=False)
    hold = lock_one(
        Lock.POINTS_ACCOUNT,
        PartnerHold.objects.select_related("partner", "entry", "link").filter(pk=hold_id),
    )
    return account, hold


def _require_live(partner: Partner, account: PointsAccount) -> None:
    """Every call on an existing hold or accrual needs what a new one needs: an active
    partner, a live link to the member (any of their links with this partner: unlinking and
    linking again is the same consent) and a member who may use points. Precondition: the
    account is locked, which unlinking also takes, so the answer holds until commit."""
    if not partner.is_active:
        raise errors.PartnerSuspended
    if not PartnerLink.objects.filter(
        partner=partner, member_id=account.member_id, state=PartnerLink.State.LINKED
    ).exists():
        raise errors.NotLinked
    _member_may_use_points(account.member)


def partner_hold_capture(
    *, partner: Partner, hold_id: int, now: datetime | None = None
) -> PartnerHold:
    """The purchase went through: the held points are spent at the partner. Capturing a
    captured hold again answers the same."""
    now = now or timezone.now()

    def capture(account: PointsAccount, hold: PartnerHold) -> None:
        if hold.expires_at <= now:
            raise errors.HoldExpired  # the expiry job gives the points back
        hold.state = PartnerHold.State.CAPTURED
        hold.captured_at = now
        hold.save(update_fields=["state", "captured_at"])

    return _transition(
        lambda: _locked_hold(partner, hold_id), source=PartnerHold.State.HELD,
        target=PartnerHold.State.CAPTURED, conflict=errors.HoldStateConflict, apply=capture,
    )  # fmt: skip


def partner_hold_void(
    *, partner: Partner, hold_id: int, now: datetime | None = None
) -> PartnerHold:
    """The purchase did not happen: the held points go back to the member at once."""
    return _release_transition(
        partner, hold_id, source=PartnerHold.State.HELD, target=PartnerHold.State.VOIDED, now=now
    )


def partner_hold_refund(
    *, partner: Partner, hold_id: int, now: datetime | None = None
) -> PartnerHold:
    """The customer returned a purchase paid with points: the captured points come back (all
    of them, into the lots they came from; lots past their expiry expire again at once).
    Refused after the member unlinked, like every call (docs/partners.md)."""
    return _release_transition(
        partner, hold_id, source=PartnerHold.State.CAPTURED, target=PartnerHold.State.REFUNDED,
        now=now,
    )  # fmt: skip


def _release_transition(
    partner: Partner, hold_id: int, *, source: str, target: str, now: datetime | None
) -> PartnerHold:
    now = now or timezone.now()
    return _transition(
        lambda: _locked_hold(partner, hold_id), source=source, target=target,
        conflict=errors.HoldStateConflict,
        apply=lambda account, hold: _release(hold, account, state=target, now=now),
    )  # fmt: skip


def partner_holds_expire_due(*, now: datetime | None = None) -> int:
    """The job: holds neither captured nor voided in time give their points back."""
    now = now or timezone.now()
    done = 0
    due = list(
        PartnerHold.objects.filter(state=PartnerHold.State.HELD, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", "partner_id")[:JOB_BATCH]
    )
    for hold_id, partner_id in due:
        with transaction.atomic():
            account, hold = _locked_hold(Partner(pk=partner_id), hold_id)
            if hold.state != PartnerHold.State.HELD or hold.expires_at > now:
                continue  # captured or voided meanwhile
            _release(hold, account, state=PartnerHold.State.EXPIRED, now=now)
            audit_record(
                action="partner.hold_expired",
                target=account.member,
                after={"hold": hold.pk, "partner": hold.partner.code, "points": hold.amount},
                rule="partners.hold_expiry",
            )
        done += 1
    return done
