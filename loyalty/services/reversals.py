"""Undoing the awards of an event that did not stand (a comment removed after it earned points).

An event's awards are written under ``award:r<rule>:<natural key>`` (``rules.award_locked``).
When the event is undone, ``points_reverse_for_event`` compensates each of them with an
append-only entry that points at the award (``reverses``, unique: an award is compensated at
most once):

- points already spendable (an earn, or the approval of pending points) are taken back by a
  ``reverse`` entry, from the award's own lot first and then the earliest-expiring others;
- pending points are withdrawn (``cancel_pending``), as when a share is deleted.

A member may have spent the points already. The balance never goes below zero, so the reversal
takes back what the member still has, up to the award, and says so in the notification; an
award of which nothing could be taken back stays as it was.

An event can stand again (a moderator re-approves the comment). Its awards are then written for
a new *round*: ``<natural key>#2``, ``#3``… (``points_event_key``). A round whose every award was
compensated is over; an award that was not compensated keeps its round open, so a re-approval
after a removal that took nothing back awards nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.audit import audit_record
from loyalty.models import Bucket, EarningRule, EntryKind, PendingAward, PointsEntry, PointsLot
from loyalty.services import _core
from loyalty.services.points import _cancel
from members.models import Member

MAX_ROUNDS = 100  # a guard against a loop, far above what moderation produces


def _round_key(natural_key: str, number: int) -> str:
    return natural_key if number == 1 else f"{natural_key}#{number}"


def _award_keys(rule_ids: list[int], natural_key: str) -> list[str]:
    return [f"award:r{pk}:{natural_key}"[:200] for pk in rule_ids]


def _awards(rule_ids: list[int], natural_key: str):
    """The award entries of one round, each annotated with whether it was compensated."""
    compensated = Exists(PointsEntry.objects.filter(reverses=OuterRef("pk"))) | Exists(
        PendingAward.objects.filter(entry=OuterRef("pk"), state=PendingAward.State.CANCELLED)
    )
    approved_and_reversed = Exists(
        PendingAward.objects.filter(
            entry=OuterRef("pk"),
            state=PendingAward.State.APPROVED,
            approve_entry__reversed_by__isnull=False,
        )
    )
    return PointsEntry.objects.filter(
        idempotency_key__in=_award_keys(rule_ids, natural_key), kind=EntryKind.EARN
    ).annotate(undone=compensated | approved_and_reversed)


def _current_round(trigger: str, natural_key: str) -> tuple[list[int], str]:
    """The trigger's rules (enabled or not) and the natural key of the event's open round."""
    rule_ids = list(EarningRule.objects.filter(trigger=trigger).values_list("pk", flat=True))
    if not rule_ids:
        return rule_ids, natural_key
    for number in range(1, MAX_ROUNDS + 1):
        key = _round_key(natural_key, number)
        undone = list(_awards(rule_ids, key).values_list("undone", flat=True))
        if not undone or not all(undone):
            return rule_ids, key
    return rule_ids, _round_key(natural_key, MAX_ROUNDS)


def points_event_key(*, trigger: str, natural_key: str) -> str:
    """The natural key to award an event under: its own, or that of a new round once every
    award of the previous round was compensated (see the module docstring).

    Precondition: the caller serialises the event (the comment's row lock), so two
    transactions cannot open the same new round; the award's unique key stops a second award
    in any case.
    """
    return _current_round(trigger, natural_key)[1]


def _take_back(account, credit: PointsEntry, *, key: str, reason: str, now: datetime, actor) -> int:
    """Compensate a spendable credit with what the member still has of it; the points taken."""
    if PointsEntry.objects.filter(reverses=credit).exists():
        return 0
    _core.expire_due(account, now=now)
    amount = min(credit.amount, account.balance)
    if amount <= 0:
        return 0
    reversal = _core.post(
        account, amount=-amount, kind=EntryKind.REVERSE, key=key, reason=reason, now=now,
        actor=actor, reverses=credit, rule=credit.rule,
        reference=(credit.reference_type, credit.reference_id) if credit.reference_type else None,
        qualifying_at=credit.qualifying_at,
    )  # fmt: skip
    lot = PointsLot.objects.filter(entry=credit).values_list("pk", flat=True).first()
    _core.consume(account, reversal, amount, now=now, first_lot_id=lot)
    return amount


def points_reverse_for_event(
    *,
    member: Member,
    trigger: str,
    natural_key: str,
    reason: str,
    actor=None,
    now: datetime | None = None,
) -> int:
    """Take back what the awards of an undone event gave; the points taken back.

    Safe to call again: each award is compensated once (``reverses`` is unique, and the keys
    are ``undo:r<rule>:<round key>``), so a second call takes nothing. Locks the member and
    their points account (``core.locking``); a caller that locked its own row first (a
    comment) must never be locked after an account. Tells the member (after commit) and writes
    an audit entry when anything changed.
    """
    now = now or timezone.now()
    reason = _core.require_reason(reason)
    rule_ids, key = _current_round(trigger, natural_key)
    if not rule_ids or not _awards(rule_ids, key).filter(undone=False).exists():
        return 0  # the usual case: nothing was awarded, or it was compensated; no lock taken
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
        rule_ids, key = _current_round(trigger, natural_key)
        if not rule_ids:
            return 0
        awards = (
            _awards(rule_ids, key)
            .filter(account=account, undone=False)
            .select_related("rule")
            .order_by("pk")
        )
        taken = withdrawn = 0
        for entry in awards:
            undo_key = f"undo:r{entry.rule_id}:{key}"[:200]
            if entry.bucket == Bucket.AVAILABLE:
                taken += _take_back(
                    account, entry, key=undo_key, reason=reason, now=now, actor=actor
                )
                continue
            award = PendingAward.objects.select_related("approve_entry__rule").get(entry=entry)
            if award.state == PendingAward.State.PENDING:
                _cancel(award, account, reason=reason, now=now, actor=actor)
                withdrawn += award.amount
            elif award.state == PendingAward.State.APPROVED:
                taken += _take_back(
                    account, award.approve_entry, key=undo_key, reason=reason, now=now,
                    actor=actor,
                )  # fmt: skip
        if not (taken or withdrawn):
            return 0
        audit_record(
            action="points.event_reversed",
            actor=actor,
            target=account.member,
            after={"natural_key": key, "taken": taken, "withdrawn": withdrawn,
                   "balance": account.balance},
            reason=reason,
            rule="" if getattr(actor, "pk", None) else "loyalty.event_undone",
        )  # fmt: skip
        if taken:
            _core.balance_event(account, "points_reversed", points=taken, reason=reason)
        if withdrawn:
            _core.balance_event(account, "points_pending_cancelled", points=withdrawn)
    return taken
