"""Draws for scarce offers and activities: provably fair, reproducible by anyone.

How a draw goes:

1. Staff choose the draw for an item (``allocation_configure``) with an entry window and
   optional weights by tier. A secret 32-byte seed is drawn then, and its commitment,
   ``SHA-256(seed)``, is published on the item page before anyone can enter.
2. Members enter during the window (``draw_enter``); each entry gets a random, pseudonymous
   ``public_id`` and the weight of the member's tier at that moment.
3. At or after the close (beat's ``draws_due`` or a staff button: ``draw_run``), the entry list
   is fixed, the seed is revealed, and ``draw_order`` ranks every entry. The first ``units``
   entries win a hold (they claim or confirm before it ends, like a member of the waiting
   list); every other entry joins the waiting list in draw order.

Anyone can check the result from the published list (entries in entry order with weights), the
seed and the algorithm (``draw_order``, documented in docs/community.md, with a standalone
verifier in docs/verify_draw.py): ``SHA-256(seed)`` must equal the commitment published before
the window opened, and recomputing the order must give the published winners.

Why winners get a hold rather than the unit itself: a claim may cost points and a seat is a
promise to come; a winner confirms, and a winner who cannot come passes the unit on by
declining or letting the hold run out.

Races. Every entry and the draw itself lock the ``Draw`` row (level STOCK of
``core.locking``; the draw then locks the item's stock row, also STOCK, always in that order).
An entry that committed before the draw took the lock is in the list; one that arrives while
the draw runs waits for it, then finds the draw done and is refused with ``DrawClosed``. A
second run finds the draw done and does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from community import gate
from community.models import (
    ActivityPage,
    ActivitySeats,
    Draw,
    DrawEntry,
    ItemAllocation,
    OfferInventory,
    OfferPage,
    OfferWaitlistEntry,
    Registration,
)
from community.participation.services.access import in_window, lock_member, require_full_access
from community.participation.services.activities import _lock_seats
from community.participation.services.errors import (
    AlreadyEntered,
    AlreadyRegistered,
    DrawClosed,
    DrawNotDue,
    DrawNotOpen,
    DrawSettingsLocked,
    InvalidAllocation,
    NotADraw,
    TierTooLow,
)
from community.participation.services.holds import allocation_of, hold_deadline, notify_hold
from community.participation.services.offers import _lock_inventory
from community.tasks import notify_draw_result
from core.audit import audit_record
from core.locking import Lock, lock_one
from core.models import Notification
from core.notifications import notify, notify_staff, written_for
from members.models import Member
from members.selectors import ViewerStatus

ALGORITHM = "hmac-sha256-weighted-sequential-v1"
MAX_WEIGHT = 100
MAX_HOLD_HOURS = 24 * 14
DRAW_DUE_RULE = "draw_due"


# --- the algorithm ------------------------------------------------------------------------------


def commitment_of(seed_hex: str) -> str:
    """The published commitment of a seed: SHA-256 of its 32 bytes, in hex."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def round_number(seed_hex: str, round_index: int) -> int:
    """The random number of round ``round_index`` (0-based): HMAC-SHA256 keyed with the seed's
    bytes over the ASCII text ``round:<index>``, read as a big-endian unsigned integer."""
    digest = hmac.new(
        bytes.fromhex(seed_hex), f"round:{round_index}".encode("ascii"), hashlib.sha256
    ).digest()
    return int.from_bytes(digest, "big")


def draw_order(seed_hex: str, entries: Sequence[tuple[str, int]]) -> list[str]:
    """Every entry's ``public_id`` in draw order: weighted sampling without replacement.

    ``entries`` are ``(public_id, weight)`` in the published order (entry order). Round ``r``
    takes ``x = round_number(seed, r) mod W``, where ``W`` is the sum of the weights still in
    the draw, and picks the first remaining entry (in published order) whose running sum of
    weights exceeds ``x``; that entry leaves the draw. Integer arithmetic only, so any language
    gets the same order. (The bias of the modulo is below ``W / 2**256``.)

    A Fenwick tree finds each pick in O(log n), so ranking tens of thousands of entries takes a
    moment; docs/verify_draw.py does the same walk the plain way.
    """
    n = len(entries)
    tree = [0] * (n + 1)
    for index, (_public_id, weight) in enumerate(entries, start=1):
        position = index
        while position <= n:
            tree[position] += weight
            position += position & -position
    remaining = sum(weight for _public_id, weight in entries)
    top = 1 << max(n.bit_length() - 1, 0) if n else 0
    order: list[str] = []
    for round_index in range(n):
        x = round_number(seed_hex, round_index) % remaining
        # The smallest index whose prefix sum exceeds x.
        position, rest, step = 0, x, top
        while step:
            following = position + step
            if following <= n and tree[following] <= rest:
                position, rest = following, rest - tree[following]
            step >>= 1
        chosen = position + 1
        public_id, weight = entries[chosen - 1]
        order.append(public_id)
        remaining -= weight
        while chosen <= n:
            tree[chosen] -= weight
            chosen += chosen & -chosen
    return order


def entries_digest(entries: Sequence[tuple[str, int]]) -> str:
    """SHA-256 of the published entry list as compact JSON ``[["id", weight], ...]``."""
    text = json.dumps([[public_id, weight] for public_id, weight in entries],
                      separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def published_entries(draw: Draw) -> list[tuple[str, int]]:
    """The entry list as published: live entries in the order they were made (id order)."""
    return list(
        DrawEntry.objects.filter(draw=draw, withdrawn_at__isnull=True)
        .order_by("id")
        .values_list("public_id", "weight")
    )


# --- staff: choosing how an item is allocated ---------------------------------------------------


def _open_queue_exists(item) -> bool:
    if isinstance(item, OfferPage):
        return OfferWaitlistEntry.objects.filter(
            offer=item, state__in=[OfferWaitlistEntry.State.WAITING, OfferWaitlistEntry.State.HELD]
        ).exists()
    return Registration.objects.filter(
        activity=item, state__in=[Registration.State.WAITLISTED, Registration.State.HELD]
    ).exists()


def _clean_weights(tier_weights: dict | None) -> dict[str, int]:
    weights: dict[str, int] = {}
    for code, weight in (tier_weights or {}).items():
        try:
            value = int(weight)
        except (TypeError, ValueError):
            raise InvalidAllocation(_("权重须为 1 到 100 的整数。")) from None
        if not 1 <= value <= MAX_WEIGHT:
            raise InvalidAllocation(_("权重须为 1 到 100 的整数。"))
        if value != 1:
            weights[str(code)] = value
    return weights


def allocation_configure(
    *,
    item: OfferPage | ActivityPage,
    actor,
    mode: str,
    hold_hours: int,
    entries_open_at: datetime | None = None,
    entries_close_at: datetime | None = None,
    tier_weights: dict | None = None,
    ip: str | None = None,
) -> ItemAllocation:
    """Staff choose first come or a draw for ``item``, and the hold duration.

    Choosing a draw draws the secret seed and publishes its commitment at once, before anyone
    can enter. Once a member has entered (or the draw has run) the mode, window and weights are
    fixed: changing them then would change the odds after the fact. The hold duration may
    change at any time (it applies to holds given from then on).
    """
    if mode not in ItemAllocation.Mode.values:
        raise InvalidAllocation
    if not 1 <= int(hold_hours) <= MAX_HOLD_HOURS:
        raise InvalidAllocation(_("保留时长须在 1 到 336 小时之间。"))
    weights = _clean_weights(tier_weights)
    is_draw = mode == ItemAllocation.Mode.DRAW
    if is_draw and (
        entries_open_at is None or entries_close_at is None or entries_close_at <= entries_open_at
    ):
        raise InvalidAllocation(_("抽签须设置报名开始和截止时间，截止须晚于开始。"))
    now = timezone.now()
    with transaction.atomic():
        draw = lock_one(Lock.STOCK, Draw.objects.filter(item_id=item.pk))
        allocation = ItemAllocation.objects.filter(item_id=item.pk).first()
        before = _allocation_facts(allocation)
        fixed = draw is not None and (
            draw.drawn or DrawEntry.objects.filter(draw=draw, withdrawn_at__isnull=True).exists()
        )
        if fixed:
            unchanged = (
                is_draw
                and allocation.entries_open_at == entries_open_at
                and allocation.entries_close_at == entries_close_at
                and (allocation.tier_weights or {}) == weights
            )
            if not unchanged:
                raise DrawSettingsLocked
        elif is_draw:
            if entries_close_at <= now:
                raise InvalidAllocation(_("抽签报名截止时间须在未来。"))
            if draw is None and _open_queue_exists(item):
                raise InvalidAllocation(_("已有会员在候补或保留中，不能改为抽签。"))
        if allocation is None:
            allocation = ItemAllocation(item_id=item.pk)
        allocation.mode, allocation.hold_hours = mode, int(hold_hours)
        allocation.entries_open_at = entries_open_at if is_draw else None
        allocation.entries_close_at = entries_close_at if is_draw else None
        allocation.tier_weights = weights if is_draw else {}
        allocation.updated_at, allocation.updated_by = (
            now,
            actor if getattr(actor, "pk", None) else None,
        )
        allocation.save()
        audit_record(
            action="allocation.configured", actor=actor, target=item, ip=ip,
            before=before, after=_allocation_facts(allocation),
        )  # fmt: skip
        if is_draw and draw is None:
            seed = secrets.token_hex(32)
            draw = Draw.objects.create(
                item_id=item.pk, seed=seed, commitment=commitment_of(seed), committed_at=now
            )
            audit_record(
                action="draw.committed", actor=actor, target=item, ip=ip,
                after={"commitment": draw.commitment, "algorithm": ALGORITHM,
                       "entries_open_at": entries_open_at.isoformat(),
                       "entries_close_at": entries_close_at.isoformat(), "weights": weights},
            )  # fmt: skip
        elif not is_draw and draw is not None and not fixed:
            audit_record(
                action="draw.withdrawn", actor=actor, target=item, ip=ip,
                after={"commitment": draw.commitment},
            )  # fmt: skip
            DrawEntry.objects.filter(draw=draw).delete()  # only withdrawn entries can be left
            draw.delete()
    return allocation


def _allocation_facts(allocation: ItemAllocation | None) -> dict:
    if allocation is None:
        return {"mode": ItemAllocation.Mode.FIRST_COME}
    facts = {"mode": allocation.mode, "hold_hours": allocation.hold_hours}
    if allocation.mode == ItemAllocation.Mode.DRAW:
        facts.update(
            entries_open_at=allocation.entries_open_at.isoformat(),
            entries_close_at=allocation.entries_close_at.isoformat(),
            weights=allocation.tier_weights or {},
        )
    return facts


# --- members: entering and withdrawing ----------------------------------------------------------


def _draw_for(item) -> tuple[ItemAllocation, Draw]:
    allocation = allocation_of(item)
    if allocation is None or allocation.mode != ItemAllocation.Mode.DRAW:
        raise NotADraw
    draw = lock_one(Lock.STOCK, Draw.objects.filter(item_id=item.pk))
    if draw is None:
        raise NotADraw
    return allocation, draw


def draw_enter(*, item: OfferPage | ActivityPage, member: Member) -> DrawEntry:
    """Enter ``member`` in the item's draw with their tier's weight.

    The ``Draw`` row is locked before the window is checked, so an entry is either in before
    the draw runs or refused after it (``DrawClosed``), never counted late.
    """
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        require_full_access(member, item, TierTooLow(_("等级不够，无法参加这次抽签。")))
        allocation, draw = _draw_for(item)
        now = timezone.now()  # after the lock: the moment the entry is decided
        if draw.drawn or now >= allocation.entries_close_at:
            raise DrawClosed
        if now < allocation.entries_open_at:
            raise DrawNotOpen
        if DrawEntry.objects.filter(draw=draw, member=member, withdrawn_at__isnull=True).exists():
            raise AlreadyEntered
        if (
            isinstance(item, ActivityPage)
            and Registration.objects.filter(activity=item, member=member)
            .exclude(state=Registration.State.CANCELLED)
            .exists()
        ):
            raise AlreadyRegistered
        taken = set(DrawEntry.objects.filter(draw=draw).values_list("public_id", flat=True))
        public_id = secrets.token_hex(6)
        while public_id in taken:
            public_id = secrets.token_hex(6)
        entry = DrawEntry.objects.create(
            draw=draw, member=member, public_id=public_id, created_at=now,
            weight=allocation.weight_for(member.tier.code if member.tier else None),
        )  # fmt: skip
        notify_staff(counter="draws")
    return entry


def draw_withdraw(*, item: OfferPage | ActivityPage, member: Member) -> DrawEntry | None:
    """Withdraw ``member``'s entry while the window is open (None when there is none)."""
    with transaction.atomic():
        member = lock_member(member)
        allocation, draw = _draw_for(item)
        now = timezone.now()
        if draw.drawn or now >= allocation.entries_close_at:
            raise DrawClosed(_("抽签报名已截止，不能退出。"))
        entry = lock_one(
            Lock.CODES,
            DrawEntry.objects.filter(draw=draw, member=member, withdrawn_at__isnull=True),
        )
        if entry is None:
            return None
        entry.withdrawn_at = now
        entry.save(update_fields=["withdrawn_at"])
        notify_staff(counter="draws")
    return entry


# --- running the draw ---------------------------------------------------------------------------


def draw_run(
    *, item: OfferPage | ActivityPage, actor=None, ip: str | None = None
) -> tuple[Draw, bool]:
    """Run the item's draw once its entry window has closed; (draw, True) when it ran now,
    (draw, False) when it had already run (a second run changes nothing).

    Lock order: ``Draw`` → the item's stock row (both STOCK) → waiting-list rows (CODES).
    """
    now = timezone.now()
    with transaction.atomic():
        allocation, draw = _draw_for(item)
        if draw.drawn:
            return draw, False
        if now < allocation.entries_close_at:
            raise DrawNotDue
        entries = list(
            DrawEntry.objects.select_related("member", "member__tier")
            .filter(draw=draw, withdrawn_at__isnull=True)
            .order_by("id")
        )
        listed = [(entry.public_id, entry.weight) for entry in entries]
        order = draw_order(draw.seed, listed)
        rank_of = {public_id: rank for rank, public_id in enumerate(order, start=1)}
        if isinstance(item, OfferPage):
            stock = _lock_inventory(item, now)
            units = max(stock.total - stock.claimed - stock.held, 0)
        else:
            stock = _lock_seats(item, now)
            units = max(stock.capacity - stock.taken, 0)
        winners_count = min(units, len(entries))
        for entry in entries:
            entry.rank = rank_of[entry.public_id]
            entry.won = entry.rank <= winners_count
        DrawEntry.objects.bulk_update(entries, ["rank", "won"])
        draw.state, draw.drawn_at, draw.units = Draw.State.DRAWN, now, winners_count
        draw.entries_digest = entries_digest(listed)
        draw.save(update_fields=["state", "drawn_at", "units", "entries_digest"])
        ranked = sorted(entries, key=lambda entry: entry.rank)
        deadline = hold_deadline(item, now, allocation)
        _allocate(item, stock, ranked, winners_count, now, deadline)
        rule = "" if getattr(actor, "pk", None) else DRAW_DUE_RULE
        audit_record(
            action="draw.entries_closed", actor=actor, target=item, ip=ip, rule=rule,
            after={"entries": len(listed), "entries_digest": draw.entries_digest,
                   "entries_close_at": allocation.entries_close_at.isoformat()},
        )  # fmt: skip
        audit_record(
            action="draw.run", actor=actor, target=item, ip=ip, rule=rule,
            after={"algorithm": ALGORITHM, "units": winners_count, "entries": len(listed)},
        )  # fmt: skip
        audit_record(
            action="draw.seed_revealed", actor=actor, target=item, ip=ip, rule=rule,
            after={"seed": draw.seed, "commitment": draw.commitment},
        )  # fmt: skip
        audit_record(
            action="draw.allocated", actor=actor, target=item, ip=ip, rule=rule,
            after={"winners": [entry.public_id for entry in ranked[:winners_count]],
                   "waiting_list": [entry.public_id for entry in ranked[winners_count:]],
                   "hold_until": deadline.isoformat()},
        )  # fmt: skip
        notify_staff(counter="draws")
        notify_draw_result.delay_on_commit(item.pk)
    return draw, True


def _allocate(item, stock, ranked: list[DrawEntry], winners: int, now, deadline) -> None:
    """Holds for the winners, the waiting list in draw order for everyone else. ``stock`` is
    locked. Rows are created one by one in rank order, so id order is draw order."""
    if isinstance(item, OfferPage):
        for index, entry in enumerate(ranked):
            won = index < winners
            row = OfferWaitlistEntry.objects.create(
                offer=item, member=entry.member, created_at=now,
                state=OfferWaitlistEntry.State.HELD if won else OfferWaitlistEntry.State.WAITING,
                origin=(OfferWaitlistEntry.Origin.DRAW_WON if won
                        else OfferWaitlistEntry.Origin.DRAW_LOST),
                held_at=now if won else None, hold_until=deadline if won else None,
            )  # fmt: skip
            if won:
                notify_hold(member=entry.member, item=item, hold_until=deadline,
                            key=f"offer-hold:{row.pk}", won=True)  # fmt: skip
        if winners:
            OfferInventory.objects.filter(pk=stock.pk).update(held=F("held") + winners)
        return
    for index, entry in enumerate(ranked):
        won = index < winners
        row = Registration.objects.create(
            activity=item, member=entry.member, created_at=now,
            state=Registration.State.HELD if won else Registration.State.WAITLISTED,
            hold_until=deadline if won else None,
        )  # fmt: skip
        if won:
            notify_hold(member=entry.member, item=item, hold_until=deadline,
                        key=f"activity-hold:{row.pk}:{deadline:%s}", won=True)  # fmt: skip
    if winners:
        ActivitySeats.objects.filter(pk=stock.pk).update(taken=F("taken") + winners)


def draw_notify_waiting(*, item_id: int) -> int:
    """Tell every entrant who did not win their place on the waiting list (once each)."""
    draw = Draw.objects.filter(item_id=item_id, state=Draw.State.DRAWN).first()
    if draw is None:
        return 0
    item = draw.item.specific
    sent = 0
    for entry in (
        DrawEntry.objects.select_related("member", "member__tier")
        .filter(draw=draw, won=False)
        .order_by("rank")
    ):
        member = entry.member
        viewer = ViewerStatus(member.state, tier=member.tier, member=member)
        position = entry.rank - draw.units
        with written_for(member.language):
            if gate.decide(viewer, item, gate.Surface.NOTIFICATION).full:
                title = gettext("抽签结果：%(title)s") % {"title": item.title}
                link = item.url or ""
            else:
                title, link = gettext("抽签结果"), ""
            body = gettext(
                "这次未中签，您在候补名单第 %(position)s 位，有名额空出时按顺序为您保留。"
            ) % {"position": position}
        if notify(user_id=member.user_id, kind=Notification.Kind.DRAW_RESULT, title=title,
                  body=body, link=link, dedupe_key=f"draw-lost:{entry.pk}"):  # fmt: skip
            sent += 1
    return sent


def draws_due() -> int:
    """Run every draw whose window has closed (beat, every minute); how many ran now."""
    now = timezone.now()
    due = Draw.objects.filter(
        state=Draw.State.OPEN,
        item__allocation__mode=ItemAllocation.Mode.DRAW,
        item__allocation__entries_close_at__lte=now,
    ).values_list("item_id", flat=True)
    ran = 0
    for item_id in list(due):
        item = Draw.objects.get(item_id=item_id).item.specific
        _draw, now_ran = draw_run(item=item)
        ran += int(now_ran)
    return ran


def in_entry_window(allocation: ItemAllocation, now: datetime) -> bool:
    return in_window(now, allocation.entries_open_at, allocation.entries_close_at)
