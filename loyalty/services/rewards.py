"""Rewards: redemption in one transaction, fulfilment, cancellation with refund, coupon pools.

Redemption locks the member's account row, checks everything with the same rules the catalogue
shows, writes the redemption, the ledger entry and the lot consumptions, and reserves the stock
last, with one conditional ``UPDATE`` just before commit. Locks follow ``core.locking``'s order
(points account → stock → codes):

- the account lock serialises everything of one member: balance, lots, and the per-member
  limits (every redemption of the member takes it before counting);
- the reward row is read without a lock for its rules (live, window, tier, cost, limits): a
  staff edit racing a redemption is ordered before or after it, as any edit is;
- the stock is the reward's ``issued`` counter, reserved by ``UPDATE ... WHERE issued <
  stock_total``: no row back means sold out, the domain error rolls the whole transaction back
  and nothing is charged. Redemptions of one reward by many members queue only on that one
  statement and the commit, not on the ledger work;
- a coupon code is taken after the stock, ``FOR UPDATE SKIP LOCKED``, so two redemptions never
  wait for each other's code.

A redemption never writes the member row, so it does not lock it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import DomainError
from core.locking import Lock, lock_execute, lock_rows
from loyalty import errors, policy
from loyalty.models import CouponCode, EntryKind, PointsEntry, Redemption, Reward
from loyalty.services import _core
from members.models import Member

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
ACTIVE_STATES = (Redemption.State.REQUESTED, Redemption.State.FULFILLED)
# The stock and the code, each one statement taken last (see the module docstring).
RESERVE_SQL = (
    f"UPDATE {Reward._meta.db_table} SET issued = issued + 1 "
    "WHERE id = %s AND (stock_total IS NULL OR issued < stock_total) RETURNING issued"
)
_CODES = CouponCode._meta.db_table
TAKE_CODE_SQL = (
    f"UPDATE {_CODES} SET redemption_id = %s, assigned_at = %s WHERE id = ("
    f"SELECT id FROM {_CODES} WHERE reward_id = %s AND redemption_id IS NULL "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, code, created_at"
)


_REWARD_FIELDS = Reward._meta.concrete_fields
READ_REWARD_SQL = (
    f"SELECT {', '.join(f.column for f in _REWARD_FIELDS)} FROM {Reward._meta.db_table} "
    "WHERE id = %s"
)


def read_reward(pk: int) -> Reward:
    """The reward as committed now, unlocked (``Reward.objects.get`` without building the query
    each time: a redemption reads it on every call)."""
    with connection.cursor() as cursor:
        cursor.execute(READ_REWARD_SQL, [pk])
        row = cursor.fetchone()
    if row is None:
        raise Reward.DoesNotExist
    return Reward.from_db("default", [f.attname for f in _REWARD_FIELDS], row)


@dataclass(frozen=True)
class Shipping:
    name: str
    phone: str
    address: str

    def is_complete(self) -> bool:
        return bool(self.name.strip() and self.phone.strip() and self.address.strip())


@dataclass(frozen=True)
class RedeemResult:
    redemption: Redemption
    replayed: bool


def redemption_counts(account_id: int, reward: Reward, now: datetime) -> tuple[int, int]:
    """(all-time, current period) active redemptions of ``reward`` by the account."""
    if reward.limit_per_member is None and reward.limit_per_period is None:
        return 0, 0  # no limit to check: no need to count
    counts = Redemption.objects.filter(
        account_id=account_id, reward=reward, state__in=ACTIVE_STATES
    ).aggregate(
        total=Count("pk"),
        period=Count("pk", filter=Q(created_at__gte=policy.period_start(reward.limit_period, now))),
    )
    return counts["total"], counts["period"]


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str = "",
    shipping: Shipping | None = None,
    now: datetime | None = None,
) -> RedeemResult:
    """Redeem one unit of ``reward`` for the member, or raise a domain error and change nothing.

    With an ``idempotency_key`` a retry returns the first redemption (``replayed``) and charges
    nothing; the key is unique per account in the database as well.
    """
    now = now or timezone.now()
    if idempotency_key and not IDEMPOTENCY_KEY_PATTERN.match(idempotency_key):
        raise DomainError(_("请求编号格式不正确。"))
    with transaction.atomic():
        account = _core.account_lock_for_spend(member.pk, now=now)
        reward = read_reward(reward.pk)  # its rules, without a lock
        if idempotency_key:
            previous = (
                Redemption.objects.select_related("reward", "coupon")
                .filter(account=account, idempotency_key=idempotency_key)
                .first()
            )
            if previous is not None:
                if previous.reward_id != reward.pk:
                    raise errors.IdempotencyKeyReused
                return RedeemResult(previous, replayed=True)
        member = account.member
        if member.state == Member.State.SUSPENDED:
            raise errors.AccountSuspended
        if member.state != Member.State.MEMBER:
            raise errors.NotAMember
        _core.expire_due(account, now=now)
        total, in_period = redemption_counts(account.pk, reward, now)
        immediate = reward.fulfilment == Reward.Fulfilment.COUPON
        free_codes = None
        if immediate:  # an early, clear refusal; the code itself is taken at the end
            free_codes = CouponCode.objects.filter(reward=reward, redemption__isnull=True).exists()
        problems = policy.reward_problems(
            member_state=member.state,
            tier_rank=member.tier.rank if member.tier else None,
            reward=reward,  # its ``issued`` unlocked: sold out then is sold out; the rest below
            balance=account.balance,
            redeemed_total=total,
            redeemed_in_period=in_period,
            free_codes=int(free_codes) if free_codes is not None else None,
            now=now,
        )
        if problems:
            raise problems[0]
        needs_address = reward.fulfilment == Reward.Fulfilment.PHYSICAL
        if needs_address and (shipping is None or not shipping.is_complete()):
            raise errors.ShippingRequired
        redemption = Redemption(
            account=account,
            reward=reward,
            cost=reward.cost,
            state=Redemption.State.FULFILLED if immediate else Redemption.State.REQUESTED,
            idempotency_key=idempotency_key,
            shipping_name=shipping.name.strip()[:50] if needs_address else "",
            shipping_phone=shipping.phone.strip()[:30] if needs_address else "",
            shipping_address=shipping.address.strip()[:300] if needs_address else "",
            fulfil_by=None if immediate else now + timedelta(days=reward.fulfil_within_days),
            fulfilled_at=now if immediate else None,
            created_at=now,
        )
        _core.insert(redemption)
        entry = _core.post(
            account, amount=-reward.cost, kind=EntryKind.REDEEM, key=f"redemption:{redemption.pk}",
            reason=_("兑换：%(reward)s") % {"reward": reward.name}, now=now,
            reference=redemption, redemption=redemption,
        )  # fmt: skip
        _core.consume(account, entry, reward.cost, now=now)
        # Last: the stock many members share, then the code. Refused here, the transaction
        # rolls back, and the redemption, the charge and the lot takes above go with it.
        reserved = lock_execute(Lock.STOCK, RESERVE_SQL, [reward.pk])
        if not reserved:
            raise errors.OutOfStock
        ((reward.issued,),) = reserved
        if immediate:
            taken = lock_execute(Lock.CODES, TAKE_CODE_SQL, [redemption.pk, now, reward.pk])
            if not taken:
                raise errors.OutOfStock
            (code_id, code, created_at) = taken[0]
            coupon = CouponCode(pk=code_id, reward=reward, code=code, assigned_at=now,
                                created_at=created_at)  # fmt: skip
            coupon._state.adding, coupon._state.db = False, "default"
            redemption.coupon = coupon  # also sets coupon.redemption
    # No real-time event: the member asked for this and reads the result in the response.
    return RedeemResult(redemption, replayed=False)


def redemption_fulfil(
    *, redemption: Redemption, actor, note: str = "", ip: str | None = None,
    now: datetime | None = None,
) -> Redemption:  # fmt: skip
    """Staff handed the reward over (shipped, donated): requested → fulfilled."""
    now = now or timezone.now()
    with transaction.atomic():
        (redemption,) = lock_rows(
            (
                Lock.POINTS_ACCOUNT,
                Redemption.objects.select_related("account__member", "reward").filter(
                    pk=redemption.pk
                ),
            )
        )[0]
        if redemption.state != Redemption.State.REQUESTED:
            raise errors.RedemptionNotRequested
        redemption.state = Redemption.State.FULFILLED
        redemption.fulfilled_at = now
        redemption.fulfilled_by = actor
        redemption.staff_note = (note or redemption.staff_note)[:200]
        redemption.save(update_fields=["state", "fulfilled_at", "fulfilled_by", "staff_note"])
        member = redemption.account.member
        audit_record(
            action="redemption.fulfilled",
            actor=actor,
            target=redemption,
            after={"state": redemption.state, "member": member.pk, "note": redemption.staff_note},
            ip=ip,
        )
        _core.member_event(
            member,
            {"kind": "redemption_fulfilled", "redemption": redemption.pk,
             "reward": redemption.reward.name},
        )  # fmt: skip
    return redemption


def _close(
    redemption_id: int, *, state: str, reason: str, actor, ip: str | None, now: datetime
) -> Redemption:
    """Cancel or expire with a refund. Lock order: account, redemption (the account's), reward."""
    account_id = Redemption.objects.values_list("account_id", flat=True).get(pk=redemption_id)
    with transaction.atomic():
        account = _core.account_lock_by_pk(account_id, with_member=False)
        (redemption,) = lock_rows(
            (
                Lock.POINTS_ACCOUNT,
                Redemption.objects.select_related("reward").filter(pk=redemption_id),
            )
        )[0]
        if redemption.state not in ACTIVE_STATES:
            raise errors.RedemptionClosed
        if state == Redemption.State.EXPIRED and redemption.state != Redemption.State.REQUESTED:
            raise errors.RedemptionClosed
        lock_rows((Lock.STOCK, Reward.objects.filter(pk=redemption.reward_id).only("pk")))
        charge = PointsEntry.objects.get(redemption=redemption, kind=EntryKind.REDEEM)
        before = redemption.state
        refund = _core.post(
            account, amount=redemption.cost, kind=EntryKind.REFUND, key=f"refund:{charge.pk}",
            reason=_("退还：%(reward)s（%(reason)s）")
            % {"reward": redemption.reward.name, "reason": reason},
            now=now, actor=actor, reference=redemption, redemption=redemption, reverses=charge,
        )  # fmt: skip
        expired_again = _core.restore(account, charge, refund, now=now)
        Reward.objects.filter(pk=redemption.reward_id).update(issued=F("issued") - 1)
        redemption.state = state
        redemption.closed_at = now
        redemption.closed_by = actor if getattr(actor, "pk", None) else None
        redemption.close_reason = reason[:200]
        redemption.save(update_fields=["state", "closed_at", "closed_by", "close_reason"])
        audit_record(
            action=f"redemption.{state}",
            actor=actor,
            target=redemption,
            before={"state": before},
            after={
                "state": state,
                "member": account.member_id,
                "refunded": redemption.cost,
                "expired_on_refund": expired_again,
            },
            reason=reason,
            ip=ip,
            rule="" if getattr(actor, "pk", None) else "loyalty.redemption_deadline",
        )
        _core.balance_event(
            account, f"redemption_{state}", redemption=redemption.pk,
            reward=redemption.reward.name, points=redemption.cost, expired=expired_again,
        )  # fmt: skip
    return redemption


def redemption_cancel(
    *, redemption: Redemption, actor, reason: str, ip: str | None = None,
    now: datetime | None = None,
) -> Redemption:  # fmt: skip
    """Staff cancel a redemption: the points come back (into their original lots), stock too.

    A coupon code already shown stays with the cancelled redemption and is never handed out again.
    """
    reason = _core.require_reason(reason)
    return _close(
        redemption.pk, state=Redemption.State.CANCELLED, reason=reason, actor=actor, ip=ip,
        now=now or timezone.now(),
    )  # fmt: skip


def redemptions_expire_due(*, now: datetime | None = None) -> int:
    """The job: requested redemptions past their fulfilment deadline expire with a refund."""
    now = now or timezone.now()
    due = list(
        Redemption.objects.filter(state=Redemption.State.REQUESTED, fulfil_by__lte=now)
        .order_by("fulfil_by")
        .values_list("pk", flat=True)[:1000]
    )
    done = 0
    for pk in due:
        try:
            _close(
                pk, state=Redemption.State.EXPIRED, reason=_("超过发放期限未发放"), actor=None,
                ip=None, now=now,
            )  # fmt: skip
        except errors.RedemptionClosed:
            continue  # fulfilled or cancelled meanwhile
        done += 1
    return done


def coupon_codes_add(*, reward: Reward, codes: list[str], actor, ip: str | None = None) -> int:
    """Add codes to a reward's pool; duplicates (in the list or the pool) are skipped."""
    cleaned = []
    seen = set()
    for raw in codes:
        code = raw.strip()
        if code and code not in seen and len(code) <= 64:
            seen.add(code)
            cleaned.append(code)
    if not cleaned:
        raise DomainError(_("没有可导入的券码。"))
    if reward.fulfilment != Reward.Fulfilment.COUPON:
        raise DomainError(_("只有券码类礼品需要券码池。"))
    with transaction.atomic():
        existing = set(
            CouponCode.objects.filter(reward=reward, code__in=cleaned).values_list(
                "code", flat=True
            )
        )
        new = [CouponCode(reward=reward, code=code) for code in cleaned if code not in existing]
        if not new:
            return 0  # every code is already in the pool: nothing changed, nothing to record
        CouponCode.objects.bulk_create(new, ignore_conflicts=True)
        audit_record(
            action="reward.codes_added",
            actor=actor,
            target=reward,
            after={"added": len(new), "skipped": len(cleaned) - len(new)},
            ip=ip,
        )
    return len(new)
