"""Offer claims and code pools.

Lock order (``core.locking``): member row → points account → ``OfferInventory`` (stock) →
``OfferCode`` rows (codes). A claim calls loyalty inside its transaction (the points it earns, the
points price it charges), which locks the points account; so the claim locks the account itself,
right after the member and before the stock, and loyalty's later lock of it waits for nobody.
``tests/community/test_lock_order.py`` races claims against tier changes of the same member.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from community.models import (
    OfferClaim,
    OfferClaimCancellation,
    OfferCode,
    OfferInventory,
    OfferPage,
    OfferWaitlistEntry,
)
from community.participation.services.access import in_window, lock_member, require_full_access
from community.participation.services.errors import (
    CancelReasonRequired,
    ClaimLimitReached,
    DrawPending,
    IdempotencyConflict,
    InvalidCodes,
    OfferNotReady,
    OutsideClaimWindow,
    SoldOut,
    TierTooLow,
)
from community.participation.services.holds import draw_pending, offer_settle
from core.audit import audit_record
from core.locking import Lock, lock_one, lock_rows
from core.models import Notification
from core.notifications import notify, notify_staff, written_for
from loyalty.services import (
    points_account_lock,
    points_award_for_event,
    points_reverse_for_event,
    points_spend_for_offer,
    points_spend_refund_for_offer,
)
from members.models import Member

MAX_CODE_LENGTH = 64
MAX_CODES_PER_UPLOAD = 20_000


def _inventory_total(offer: OfferPage, committed: int) -> int:
    """``committed`` is what is claimed or held: lowering the stock never takes those back."""
    if offer.code_mode == OfferPage.CodeMode.POOL:
        return OfferCode.objects.filter(offer=offer).count()
    return max(offer.total_stock, committed)


def _lock_inventory(offer: OfferPage, now=None) -> OfferInventory:
    """Create the offer's inventory row if missing, lock it, bring ``total`` up to date, pass
    on overdue holds and hold any free unit for the waiting list (``holds.offer_settle``)."""
    OfferInventory.objects.bulk_create(
        [OfferInventory(offer=offer, total=0, claimed=0)], ignore_conflicts=True
    )
    (inventory,) = lock_rows((Lock.STOCK, OfferInventory.objects.filter(offer=offer)))[0]
    total = _inventory_total(offer, inventory.claimed + inventory.held)
    if total != inventory.total:
        inventory.total = total
        inventory.save(update_fields=["total"])
    inventory.settled = offer_settle(inventory, offer, now or timezone.now())
    return inventory


def offer_holds_settle(*, offer: OfferPage) -> int:
    """Pass on the offer's overdue holds in a transaction of their own; how many ended.

    Member actions call this first: their own transaction settles too, but rolls back with a
    refusal, and the next member in line should not wait for the sweep because of it. One
    cheap query when nothing is overdue.
    """
    if not OfferWaitlistEntry.objects.filter(
        offer=offer, state=OfferWaitlistEntry.State.HELD, hold_until__lte=timezone.now()
    ).exists():
        return 0
    with transaction.atomic():
        return _lock_inventory(offer).settled[0]


def offer_inventory_sync(*, offer: OfferPage) -> OfferInventory:
    """Follow a changed stock or pool size (called when staff publish the offer)."""
    with transaction.atomic():
        return _lock_inventory(offer)


def offer_claim(*, offer: OfferPage, member: Member, idempotency_key: str) -> OfferClaim:
    """Give ``member`` one code of ``offer``; replaying the same key returns the same claim.

    Checks, in this order, each raising before any write: account state, the gate (tier and
    early access), the claim window, points availability, the per-member limit and the stock.
    The limit and the stock are counted under the inventory lock, so concurrent claims cannot
    exceed either; the pool code is taken with ``SKIP LOCKED`` and is unique per claim. Units
    held for others (waiting list, draw winners) are not available; a member who holds one
    claims it here, and their hold ends as claimed.
    """
    key = (idempotency_key or "").strip()[:64]
    if not key:
        raise IdempotencyConflict
    offer_holds_settle(offer=offer)
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(member)
        existing = OfferClaim.objects.filter(idempotency_key=key).first()
        if existing is not None:
            if existing.member_id == member.pk and existing.offer_id == offer.pk:
                return existing
            raise IdempotencyConflict
        points_account_lock(member=member)  # before the stock: loyalty locks it later
        require_full_access(member, offer, TierTooLow(_("等级不够，无法领取这个优惠。")))
        if not in_window(now, offer.valid_from, offer.valid_until):
            raise OutsideClaimWindow
        if offer.code_mode == OfferPage.CodeMode.SHARED and not offer.shared_code.strip():
            raise OfferNotReady

        inventory = _lock_inventory(offer, now)
        if draw_pending(offer):
            raise DrawPending
        hold = lock_one(
            Lock.CODES,
            OfferWaitlistEntry.objects.filter(
                offer=offer, member=member, state=OfferWaitlistEntry.State.HELD
            ),
        )
        if offer.per_member_limit:  # 0 means no per-member limit
            mine = OfferClaim.objects.live().filter(offer=offer, member=member).count()
            if mine >= offer.per_member_limit:
                raise ClaimLimitReached
        mine_held = 1 if hold is not None else 0
        if inventory.claimed + inventory.held - mine_held >= inventory.total:
            raise SoldOut

        pool_code = None
        if offer.code_mode == OfferPage.CodeMode.POOL:
            pool_code = lock_one(
                Lock.CODES,
                OfferCode.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(offer=offer, claimed_by__isnull=True)
                .order_by("id"),
            )
            if pool_code is None:
                raise SoldOut
            pool_code.claimed_by, pool_code.claimed_at = member, now
            pool_code.save(update_fields=["claimed_by", "claimed_at"])
            code = pool_code.code
        else:
            code = offer.shared_code.strip()
        claim = OfferClaim.objects.create(
            offer=offer, member=member, pool_code=pool_code, code=code,
            points_spent=offer.points_price, idempotency_key=key, created_at=now,
        )  # fmt: skip
        if hold is not None:
            hold.state, hold.closed_at = OfferWaitlistEntry.State.CLAIMED, now
            hold.save(update_fields=["state", "closed_at"])
        OfferInventory.objects.filter(pk=inventory.pk).update(
            claimed=F("claimed") + 1, held=F("held") - mine_held
        )
        notify_staff(counter="claims")
        points_award_for_event(
            member=member,
            trigger="offer_claimed",
            natural_key=f"claim:{claim.pk}",
            reference=claim,
        )
        if offer.points_price > 0:
            # The account is already ours (locked before the inventory): no wait here.
            points_spend_for_offer(
                member=member,
                offer=offer,
                claim=claim,
                points=offer.points_price,
                idempotency_key=f"offer-claim:{key}",
            )
    return claim


def offer_claim_cancel(
    *, claim: OfferClaim, actor, reason: str, ip: str | None = None
) -> OfferClaimCancellation:
    """Take a claim back for the member (a duplicate, a mistake, a complaint); once per claim.

    Undoes what the claim did, in its one transaction: the points price is refunded, the
    points the claim earned are taken back (what the member still has of them, as for a
    removed comment), and a shared-code unit returns to stock, where the waiting list gets it
    first. A pool code was shown to the member, so it is void rather than handed out again.
    The claim no longer counts against the member's limit. The member is told why; the audit
    log keeps who did it.

    Lock order (``core.locking``): member → points account → stock; a second cancellation of
    the same claim waits on the member row and then finds the first one's row.
    """
    reason = (reason or "").strip()
    if not reason:
        raise CancelReasonRequired
    offer = OfferPage.objects.get(pk=claim.offer_id)
    now = timezone.now()
    with transaction.atomic():
        member = lock_member(Member(pk=claim.member_id))
        claim = OfferClaim.objects.get(pk=claim.pk)
        existing = OfferClaimCancellation.objects.filter(claim=claim).first()
        if existing is not None:
            return existing
        points_account_lock(member=member)
        inventory = _lock_inventory(offer, now)
        with written_for(member.language):
            ledger_reason = _("取消领取：%(title)s（%(reason)s）") % {
                "title": offer.title, "reason": reason,
            }  # fmt: skip
            refunded = points_spend_refund_for_offer(
                member=member, claim=claim, reason=ledger_reason, actor=actor
            )
            taken_back = points_reverse_for_event(
                member=member, trigger="offer_claimed", natural_key=f"claim:{claim.pk}",
                reason=ledger_reason, actor=actor, now=now,
            )  # fmt: skip
        stock_returned = offer.code_mode == OfferPage.CodeMode.SHARED
        if stock_returned:
            OfferInventory.objects.filter(pk=inventory.pk).update(claimed=F("claimed") - 1)
            inventory.claimed -= 1
            offer_settle(inventory, offer, now)  # the freed unit goes to the waiting list first
        cancellation = OfferClaimCancellation.objects.create(
            claim=claim, reason=reason, actor=actor, points_refunded=refunded,
            points_taken_back=taken_back, stock_returned=stock_returned, created_at=now,
        )  # fmt: skip
        audit_record(
            action="offer.claim_cancelled", actor=actor, target=member, ip=ip, reason=reason,
            after={"offer": offer.pk, "claim": claim.pk, "points_refunded": refunded,
                   "points_taken_back": taken_back, "stock_returned": stock_returned,
                   "code_void": claim.pool_code_id is not None},
        )  # fmt: skip
        _notify_cancelled(member, offer, cancellation)
    return cancellation


def _notify_cancelled(member: Member, offer: OfferPage, cancellation: OfferClaimCancellation):
    with written_for(member.language):
        title = _("您领取的优惠已取消：%(title)s") % {"title": offer.title}
        lines = [_("原因：%(reason)s") % {"reason": cancellation.reason}]
        if cancellation.claim.pool_code_id is not None:
            lines.append(_("这张券码已作废，不能再使用。"))
        if cancellation.points_refunded:
            lines.append(_("已退回 %(p)s 积分。") % {"p": cancellation.points_refunded})
        body = "\n".join(str(line) for line in lines)
    notify(
        user_id=member.user_id, kind=Notification.Kind.OFFER_CLAIM_CANCELLED, title=title,
        body=body, link=reverse("community:my_offers"),
        dedupe_key=f"claim-cancelled:{cancellation.pk}",
    )  # fmt: skip


@dataclass(frozen=True)
class CodeUpload:
    added: int
    duplicates: int
    total: int


CSV_HEADERS = {"code", "codes", "coupon_code", "券码"}


def parse_codes(text: str) -> list[str]:
    """Codes from a textarea or a CSV file: one per line, first column; blanks and a header
    row (``code`` or ``券码``) dropped."""
    codes: list[str] = []
    for line in text.replace("\ufeff", "").splitlines():
        cell = line.split(",", 1)[0].strip().strip('"').strip()
        if cell and not (not codes and cell.lower() in CSV_HEADERS):
            codes.append(cell)
    return codes


def offer_codes_add(
    *, offer: OfferPage, codes: Iterable[str], actor, ip: str | None = None
) -> CodeUpload:
    """Add codes to a pool offer; codes already in the pool are skipped, never duplicated."""
    if offer.code_mode != OfferPage.CodeMode.POOL:
        raise InvalidCodes(_("统一券码的优惠不使用券码池。"))
    unique = list(dict.fromkeys(code.strip() for code in codes if code and code.strip()))
    if not unique:
        raise InvalidCodes(_("没有找到券码：每行一个。"))
    if len(unique) > MAX_CODES_PER_UPLOAD:
        raise InvalidCodes(_("一次最多上传 %(n)s 个券码。") % {"n": MAX_CODES_PER_UPLOAD})
    bad = [code for code in unique if len(code) > MAX_CODE_LENGTH or not code.isprintable()]
    if bad:
        raise InvalidCodes(
            _("有 %(n)s 个券码过长或含有不可见字符，例如第一个：%(first)s")
            % {"n": len(bad), "first": bad[0][:20]}
        )
    with transaction.atomic():
        inventory = _lock_inventory(offer)
        present = set(
            OfferCode.objects.filter(offer=offer, code__in=unique).values_list("code", flat=True)
        )
        new = [code for code in unique if code not in present]
        OfferCode.objects.bulk_create(
            [OfferCode(offer=offer, code=code, uploaded_by=actor) for code in new], batch_size=1000
        )
        total = _inventory_total(offer, inventory.claimed + inventory.held)
        OfferInventory.objects.filter(pk=inventory.pk).update(total=total)
        inventory.total = total
        offer_settle(inventory, offer, timezone.now())  # new codes go to the waiting list first
        audit_record(
            action="offer.codes_added", actor=actor, target=offer, ip=ip,
            after={"added": len(new), "duplicates": len(unique) - len(new), "total": total},
        )  # fmt: skip
    return CodeUpload(added=len(new), duplicates=len(unique) - len(new), total=total)
