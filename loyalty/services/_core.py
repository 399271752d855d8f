"""Ledger primitives shared by the loyalty services. Not for use outside ``loyalty.services``.

Every function here has the same precondition: the caller is inside ``transaction.atomic()`` and
holds the lock on the account row (``account_lock``). That lock is what serialises all writes to
an account's entries, lots, consumptions and pending awards, so a read here is never stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.events import publish_on_commit, user_group
from core.locking import Lock, lock_execute, lock_rows
from loyalty import errors, policy
from loyalty.models import (
    Bucket,
    EntryKind,
    LotConsumption,
    LoyaltySettings,
    PointsAccount,
    PointsEntry,
    PointsLot,
    QualifyingDay,
)
from members.models import Member, Tier

LOT_BATCH = 50

# The ledger's hot statements, written once in SQL: a redemption or a spend runs them on every
# call, and building them through the ORM cost more than running them (bench/loyalty_redemption
# runs the same statements by hand as its reference). The database's constraints (balance and
# remaining never below zero, non-zero amounts, unique idempotency keys, append-only entries)
# hold whichever way a row is written.
_ACCOUNTS = PointsAccount._meta.db_table
_ENTRIES = PointsEntry._meta.db_table
_LOTS = PointsLot._meta.db_table
_CONSUMPTIONS = LotConsumption._meta.db_table
INSERT_ENTRY_SQL = (
    f"INSERT INTO {_ENTRIES} (account_id, amount, bucket, kind, reason, reference_type, "
    "reference_id, rule_id, redemption_id, reverses_id, idempotency_key, actor_id, qualifying_at, "
    "balance_after, created_at, partner_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
DUE_LOTS_SQL = (
    f"SELECT id FROM {_LOTS} WHERE account_id = %s AND remaining > 0 AND expires_at <= %s "
    "ORDER BY expires_at, id"
)
LIVE_LOTS_SQL = (
    f"SELECT id, remaining FROM {_LOTS} WHERE account_id = %s AND remaining > 0 "
    "AND (expires_at IS NULL OR expires_at > %s) AND id <> ALL(%s::bigint[]) "
    "ORDER BY expires_at ASC NULLS LAST, id LIMIT %s"
)
TAKE_SQL = (
    f"WITH taken AS (UPDATE {_LOTS} AS l SET remaining = l.remaining - t.amount "
    "FROM unnest(%s::bigint[], %s::integer[]) AS t(lot_id, amount) WHERE l.id = t.lot_id) "
    f"INSERT INTO {_CONSUMPTIONS} (entry_id, lot_id, amount) "
    "SELECT %s, lot_id, amount FROM unnest(%s::bigint[], %s::integer[]) AS t(lot_id, amount)"
)

# A spend's account lock: the account's figures and the member's state and tier rank, one row.
LOCK_FOR_SPEND_SQL = (
    f"SELECT a.id, a.balance, a.pending, a.lifetime_earned, m.id, m.user_id, m.state, m.tier_id, "
    f"t.rank FROM {_ACCOUNTS} a JOIN {Member._meta.db_table} m ON m.id = a.member_id "
    f"LEFT JOIN {Tier._meta.db_table} t ON t.id = m.tier_id "
    "WHERE a.member_id = %s FOR NO KEY UPDATE OF a"
)

Reference = tuple[str, Any] | models.Model | None


def loaded(model: type[models.Model], values: dict[str, Any]) -> models.Model:
    """An instance of ``model`` as read from the database with only these fields (attnames);
    any other field loads on first access, as with ``only()``."""
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields if f.attname in values]
    return model.from_db("default", names, [values[name] for name in names])


_INSERT_SQL: dict[type[models.Model], tuple[str, list[models.Field]]] = {}


def insert(instance: models.Model) -> None:
    """``INSERT`` one new row by hand and set its primary key: ``save()`` without building the
    statement through the ORM each time (it is built once per model). Every constraint of the
    table applies as usual; for models without database defaults only."""
    model = type(instance)
    if model not in _INSERT_SQL:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        if any(f.has_db_default() for f in fields):
            raise ValueError(f"{model.__name__} has database defaults: use save()")
        sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(f.column for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {model._meta.pk.column}"
        )
        _INSERT_SQL[model] = sql, fields
    sql, fields = _INSERT_SQL[model]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, "default"


def reference_fields(reference: Reference) -> dict[str, str]:
    """``reference_type``/``reference_id`` for a model instance or a ``(type, id)`` pair."""
    if reference is None:
        return {"reference_type": "", "reference_id": ""}
    if isinstance(reference, models.Model):
        return {"reference_type": reference._meta.label_lower, "reference_id": str(reference.pk)}
    kind, ident = reference
    return {"reference_type": str(kind)[:40], "reference_id": str(ident)[:64]}


def account_lock(
    member_id: int,
    *,
    now: datetime | None = None,
    with_member: bool = True,
) -> PointsAccount:
    """Lock the member's row, then their account row (creating it first if needed), in the
    order of ``core.locking``; the member is joined in.

    ``with_member=False`` locks the account only: for actions that never write the member row
    (a redemption, a spend, a refund). Anything that may change the member's tier (earning,
    approvals, evaluations, staff corrections) must keep the member lock, because the tier is
    written to the member row after the account is locked.

    ``INSERT ... ON CONFLICT DO NOTHING`` makes creation safe when two transactions race: the
    loser waits for the winner's insert and then locks the same row.
    """
    query = PointsAccount.objects.select_related("member", "member__tier").filter(
        member_id=member_id
    )
    steps = [(Lock.MEMBER, Member.objects.filter(pk=member_id).only("pk"))] if with_member else []
    locked = lock_rows(*steps, (Lock.POINTS_ACCOUNT, query))
    found = locked[len(steps)]
    account = found[0] if found else None
    if account is None:
        now = now or timezone.now()
        PointsAccount.objects.bulk_create(
            [
                PointsAccount(
                    member_id=member_id,
                    tier_since=now,
                    tier_evaluation_on=policy.add_months(
                        timezone.localtime(now).date(), policy.EVALUATION_MONTHS
                    ),
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        (account,) = lock_rows((Lock.POINTS_ACCOUNT, query))[0]
    return account


def account_lock_for_spend(member_id: int, *, now: datetime) -> PointsAccount:
    """``account_lock(with_member=False)`` in one hand-written statement, for the hot path of a
    spend (a redemption): the account with its figures, and its member with ``state``,
    ``user_id`` and the tier's ``rank`` loaded; other fields load on first access. The lock is
    the same row lock at the same place in the order."""
    rows = lock_execute(Lock.POINTS_ACCOUNT, LOCK_FOR_SPEND_SQL, [member_id])
    if not rows:
        return account_lock(member_id, now=now, with_member=False)  # creates the account
    ((pk, balance, pending, lifetime_earned, _member, user_id, state, tier_id, rank),) = rows
    figures = {"balance": balance, "pending": pending, "lifetime_earned": lifetime_earned}
    account = loaded(PointsAccount, {"id": pk, "member_id": member_id, **figures})
    member = loaded(
        Member, {"id": member_id, "user_id": user_id, "state": state, "tier_id": tier_id}
    )
    member.tier = loaded(Tier, {"id": tier_id, "rank": rank}) if tier_id else None
    account.member = member
    return account


def account_lock_by_pk(account_id: int, *, with_member: bool = True) -> PointsAccount:
    """``account_lock`` for an account id."""
    steps = (
        [(Lock.MEMBER, Member.objects.filter(points_account__pk=account_id).only("pk"))]
        if with_member
        else []
    )
    query = PointsAccount.objects.select_related("member", "member__tier").filter(pk=account_id)
    (account,) = lock_rows(*steps, (Lock.POINTS_ACCOUNT, query))[-1]
    return account


def post(
    account: PointsAccount,
    *,
    amount: int,
    kind: str,
    key: str,
    reason: str,
    now: datetime,
    bucket: str = Bucket.AVAILABLE,
    actor=None,
    reference: Reference = None,
    rule=None,
    redemption=None,
    reverses: PointsEntry | None = None,
    qualifying_at: datetime | None = None,
    partner=None,
) -> PointsEntry:
    """Write one entry and move the cached figures with ``F()`` in the same transaction.

    The database refuses a balance or pending below zero (CheckConstraint), whatever the caller
    checked before.
    """
    if amount == 0:
        raise ValueError("ledger entries are never zero")
    changes: list[str] = []  # the account's cached figures this entry moves, by ``amount``
    if bucket == Bucket.AVAILABLE:
        changes.append("balance")
        account.balance += amount
    else:
        changes.append("pending")
        account.pending += amount
    if qualifying_at is not None:
        changes.append("lifetime_earned")
        account.lifetime_earned += amount
        day = timezone.localdate(qualifying_at)
        counted = QualifyingDay.objects.filter(account=account, day=day)
        if not counted.update(points=F("points") + amount):
            QualifyingDay.objects.create(account=account, day=day, points=amount)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_ACCOUNTS} SET "
            + ", ".join(f"{name} = {name} + %s" for name in changes)
            + " WHERE id = %s",
            [amount] * len(changes) + [account.pk],
        )
        entry = PointsEntry(
            account=account,
            amount=amount,
            bucket=str(bucket),
            kind=str(kind),
            reason=str(reason)[:200],
            **reference_fields(reference),
            rule=rule,
            redemption=redemption,
            reverses=reverses,
            idempotency_key=key,
            actor=actor if getattr(actor, "pk", None) else None,
            qualifying_at=qualifying_at,
            balance_after=account.balance,
            created_at=now,
            partner=partner,
        )
        cursor.execute(
            INSERT_ENTRY_SQL,
            [account.pk, amount, entry.bucket, entry.kind, entry.reason, entry.reference_type,
             entry.reference_id, entry.rule_id, entry.redemption_id, entry.reverses_id, key,
             entry.actor_id, qualifying_at, account.balance, now, entry.partner_id],
        )  # fmt: skip
        entry.pk = cursor.fetchone()[0]
    entry._state.adding, entry._state.db = False, "default"
    return entry


def lot_create(
    account: PointsAccount, entry: PointsEntry, *, now: datetime, settings_: LoyaltySettings
) -> PointsLot:
    """The lot of a credit to the available bucket, expiring per the validity policy."""
    return PointsLot.objects.create(
        account=account,
        entry=entry,
        amount=entry.amount,
        remaining=entry.amount,
        expires_at=policy.lot_expiry(
            earned_at=now, policy=settings_.expiry_policy, months=settings_.expiry_months
        ),
        created_at=now,
    )


def live_lots(account: PointsAccount, now: datetime):
    """Spendable lots in spending order: earliest expiry first, never-expiring last."""
    return (
        PointsLot.objects.filter(account=account, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )


def consume(
    account: PointsAccount,
    entry: PointsEntry,
    amount: int,
    *,
    now: datetime,
    first_lot_id: int | None = None,
) -> None:
    """Take ``amount`` from live lots (``first_lot_id`` first, if given), recording each take."""
    left = amount
    lot_ids: list[int] = []
    portions: list[int] = []

    def take(lot_id: int, available: int) -> None:
        nonlocal left
        portion = min(available, left)
        if portion <= 0:
            return
        lot_ids.append(lot_id)
        portions.append(portion)
        left -= portion

    if first_lot_id is not None:
        first = live_lots(account, now).filter(pk=first_lot_id).values_list("remaining").first()
        if first:
            take(first_lot_id, first[0])
    with connection.cursor() as cursor:
        while left > 0:
            cursor.execute(LIVE_LOTS_SQL, [account.pk, now, list(lot_ids), LOT_BATCH])
            batch = cursor.fetchall()
            if not batch:
                # The balance said yes but the lots say no: never write a half-covered spend.
                raise errors.InsufficientPoints.for_amounts(need=amount, have=amount - left)
            for lot_id, remaining in batch:
                take(lot_id, remaining)
                if left == 0:
                    break
        # Every take and its consumption row in one statement (the lots' CHECK keeps each >= 0).
        cursor.execute(TAKE_SQL, [lot_ids, portions, entry.pk, lot_ids, portions])


def expire_lot(account: PointsAccount, lot: PointsLot, *, now: datetime, actor=None) -> PointsEntry:
    """Write the explicit expiry of a lot's remainder. Precondition: ``lot.remaining`` is fresh."""
    sequence = LotConsumption.objects.filter(lot=lot, entry__kind=EntryKind.EXPIRE).count() + 1
    last_day = lot.last_valid_day
    entry = post(
        account,
        amount=-lot.remaining,
        kind=EntryKind.EXPIRE,
        key=f"expire:{lot.pk}:{sequence}",
        reason=_("积分过期（有效期至 %(day)s）")
        % {"day": last_day.isoformat() if last_day else ""},
        now=now,
        actor=actor,
        reference=("lot", lot.pk),
    )
    PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - lot.remaining)
    LotConsumption.objects.create(entry=entry, lot=lot, amount=lot.remaining)
    return entry


def expire_due(account: PointsAccount, *, now: datetime) -> int:
    """Expire every lot of the account whose expiry has passed; the points expired."""
    expired = 0
    with connection.cursor() as cursor:
        cursor.execute(DUE_LOTS_SQL, [account.pk, now])
        due_ids = [row[0] for row in cursor.fetchall()]
    if not due_ids:
        return 0  # the usual case: one cheap query, no lot loaded
    due = PointsLot.objects.filter(pk__in=due_ids).order_by("expires_at", "id")
    for lot in due:
        expired += lot.remaining
        expire_lot(account, lot, now=now)
    return expired


def restore(
    account: PointsAccount, original: PointsEntry, refund: PointsEntry, *, now: datetime
) -> int:
    """Put back what ``original`` took from each lot; re-expire lots whose expiry has passed.

    Returns the points that expired again, i.e. that the refund could not bring back.
    """
    taken = (
        LotConsumption.objects.filter(entry=original)
        .values("lot_id")
        .annotate(net=Sum("amount"))
        .filter(net__gt=0)
        .order_by("lot_id")
    )
    lot_ids = []
    for row in taken:
        PointsLot.objects.filter(pk=row["lot_id"]).update(remaining=F("remaining") + row["net"])
        LotConsumption.objects.create(entry=refund, lot_id=row["lot_id"], amount=-row["net"])
        lot_ids.append(row["lot_id"])
    expired = 0
    for lot in PointsLot.objects.filter(pk__in=lot_ids, remaining__gt=0, expires_at__lte=now):
        expired += lot.remaining
        expire_lot(account, lot, now=now)
    return expired


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired
    return reason


def _notification(payload: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, title, body) of the persisted notification for a loyalty event, if any."""
    from core.models import Notification

    kind = payload.get("kind", "")
    points = payload.get("points") or 0
    reward = payload.get("reward", "")
    Kind = Notification.Kind
    if kind == "points_awarded":
        title = (_("获得 %(p)s 积分（待确认）") if payload.get("pending_award")
                 else _("获得 %(p)s 积分")) % {"p": points}  # fmt: skip
        return Kind.POINTS_AWARDED, title, str(payload.get("reason", ""))
    if kind == "points_pending_approved":
        return Kind.POINTS_APPROVED, _("%(p)s 积分已到账") % {"p": points}, ""
    if kind == "points_pending_cancelled":
        return Kind.POINTS_AWARDED, _("待确认的 %(p)s 积分已取消") % {"p": points}, ""
    if kind == "points_refunded":
        return Kind.POINTS_AWARDED, _("已退回 %(p)s 积分") % {"p": points}, ""
    if kind == "points_reversed":
        return (Kind.POINTS_AWARDED, _("已收回 %(p)s 积分") % {"p": points},
                str(payload.get("reason", "")))  # fmt: skip
    if kind == "points_adjusted":
        return (Kind.POINTS_AWARDED, _("积分调整：%(p)+d") % {"p": points},
                str(payload.get("reason", "")))  # fmt: skip
    if kind == "points_expired":
        return Kind.POINTS_EXPIRING, _("%(p)s 积分已过期") % {"p": points}, ""
    if kind == "points_expiring":
        body = _("%(p)s 积分将于 %(d)s 过期") % {"p": points, "d": payload.get("expires_on")}
        return Kind.POINTS_EXPIRING, str(payload.get("title") or _("积分即将过期")), body
    if kind == "redemption_fulfilled":
        return Kind.REDEMPTION_FULFILLED, _("兑换已发放：%(r)s") % {"r": reward}, ""
    if kind in ("redemption_cancelled", "redemption_expired"):
        return (Kind.REDEMPTION_CANCELLED, _("兑换已取消：%(r)s") % {"r": reward},
                _("积分已退回您的账户。"))  # fmt: skip
    if kind == "tier_changed":
        tier = payload.get("tier") or ""
        if payload.get("change") in ("upgrade", "promoted", "manual_up"):
            return Kind.TIER_UP, _("恭喜升级为%(t)s会员") % {"t": tier}, ""
        return Kind.TIER_AT_RISK, _("会员等级已调整为%(t)s") % {"t": tier}, ""
    return None


def member_event(member: Member, payload: dict[str, Any]) -> None:
    """Persist the member's notification (delivered after commit), or a bare live event."""
    from core.notifications import notify

    described = _notification(payload)
    if described is None:
        publish_on_commit(user_group(member.user_id), payload)
        return
    kind, title, body = described
    notify(user_id=member.user_id, kind=kind, title=title, body=body, link="/points/")


def balance_event(account: PointsAccount, kind: str, **extra: Any) -> None:
    """Tell the member's open pages about a change they did not just make themselves (awards,
    approvals, expiry, staff actions). Their own redemption answers in its response."""
    member_event(
        account.member,
        {"kind": kind, "balance": account.balance, "pending": account.pending, **extra},
    )
