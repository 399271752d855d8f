"""The loyalty app's part of a member's export and of their erasure (see ``members.privacy``).

Erasure never touches a figure: ledger entries, lots, consumptions, pending awards and tier
changes stay, so every balance, ``liability`` and ``reconcile_points`` give the same answers
after a member leaves. What goes is what identifies the person: delivery name, phone and
address of redemptions, and the free text staff wrote about them (fulfilment notes, reasons for
a manual tier or a pending-points decision). The ledger's own ``reason`` is the earning rule's
or reward's name, never personal; ledger and tier-change rows are append-only in the database.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.locking import Lock, lock_one
from loyalty.models import (
    PartnerHold,
    PartnerLink,
    PendingAward,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Redemption,
    TierChange,
)
from members.models import Member
from members.privacy.registry import Departure, Rows, Section, register_eraser, register_section


def points_account(member: Member) -> dict[str, Any]:
    account = PointsAccount.objects.select_related("manual_tier").filter(member=member).first()
    if account is None:
        return {}
    return {
        "balance": account.balance,
        "pending": account.pending,
        "lifetime_earned": account.lifetime_earned,
        "opened_at": account.created_at,
        "tier_since": account.tier_since,
        "next_tier_evaluation_on": account.tier_evaluation_on,
        "manual_tier": account.manual_tier.name if account.manual_tier else None,
        "manual_tier_until": account.manual_tier_until,
        "manual_tier_reason": account.manual_tier_reason,
    }


def points_ledger(member: Member) -> Rows:
    entries = PointsEntry.objects.filter(account__member=member).order_by("created_at", "pk")
    return [
        {
            "id": e.pk,
            "created_at": e.created_at,
            "kind": e.kind,
            "bucket": e.bucket,
            "amount": e.amount,
            "balance_after": e.balance_after,
            "reason": e.reason,
            "reference_type": e.reference_type,
            "reference_id": e.reference_id,
            "reverses_entry": e.reverses_id,
            "counts_for_tier_at": e.qualifying_at,
            "partner": e.partner.name if e.partner_id else "",
        }
        for e in entries.select_related("partner")
    ]


def points_lots(member: Member) -> Rows:
    lots = PointsLot.objects.filter(account__member=member).order_by("created_at", "pk")
    return [
        {
            "created_at": lot.created_at,
            "entry": lot.entry_id,
            "amount": lot.amount,
            "remaining": lot.remaining,
            "expires_at": lot.expires_at,
        }
        for lot in lots
    ]


def pending_points(member: Member) -> Rows:
    awards = (
        PendingAward.objects.filter(account__member=member)
        .select_related("rule")
        .order_by("created_at", "pk")
    )
    return [
        {
            "created_at": award.created_at,
            "rule": award.rule.name if award.rule else "",
            "amount": award.amount,
            "state": award.state,
            "release_at": award.release_at,
            "decided_at": award.decided_at,
            "decision_reason": award.decision_reason,
        }
        for award in awards
    ]


def tier_changes(member: Member) -> Rows:
    changes = (
        TierChange.objects.filter(account__member=member)
        .select_related("from_tier", "to_tier")
        .order_by("created_at", "pk")
    )
    return [
        {
            "created_at": change.created_at,
            "kind": change.kind,
            "from_tier": change.from_tier.name if change.from_tier else None,
            "to_tier": change.to_tier.name if change.to_tier else None,
            "measured_points": change.measured_points,
            "reason": change.reason,
            "manual_until": change.manual_until,
        }
        for change in changes
    ]


def redemptions(member: Member) -> Rows:
    rows = (
        Redemption.objects.filter(account__member=member)
        .select_related("reward", "coupon")
        .order_by("created_at", "pk")
    )
    result = []
    for r in rows:
        coupon = getattr(r, "coupon", None)
        result.append(
            {
                "id": r.pk,
                "created_at": r.created_at,
                "reward": r.reward.name,
                "cost": r.cost,
                "state": r.state,
                "coupon_code": coupon.code if coupon else "",
                "shipping_name": r.shipping_name,
                "shipping_phone": r.shipping_phone,
                "shipping_address": r.shipping_address,
                "fulfil_by": r.fulfil_by,
                "fulfilled_at": r.fulfilled_at,
                "fulfilment_note": r.staff_note,
                "closed_at": r.closed_at,
                "close_reason": r.close_reason,
            }
        )
    return result


def partner_links(member: Member) -> Rows:
    """Every partner the member linked (PIPL: to whom their data went, on what consent)."""
    links = PartnerLink.objects.filter(member=member).select_related("partner").order_by("pk")
    return [
        {
            "partner": link.partner.name,
            "state": link.state,
            "member_id_at_partner": link.public_id,
            "partner_reference": link.partner_reference,
            "shared_fields": link.shared_fields,
            "consent_text": link.consent_text,
            "consent_sha256": link.consent_sha256,
            "linked_at": link.linked_at,
            "linked_ip": link.linked_ip,
            "unlinked_at": link.unlinked_at,
        }
        for link in links
    ]


def partner_activity(member: Member) -> Rows:
    """Every ledger entry a partner wrote for the member, and the partner's holds."""
    entries = (
        PointsEntry.objects.filter(account__member=member, partner__isnull=False)
        .select_related("partner")
        .order_by("created_at", "pk")
    )
    holds = {
        hold.entry_id: hold
        for hold in PartnerHold.objects.filter(account__member=member).exclude(entry=None)
    }
    return [
        {
            "created_at": e.created_at,
            "partner": e.partner.name,
            "kind": e.kind,
            "bucket": e.bucket,
            "amount": e.amount,
            "reason": e.reason,
            "partner_order": holds[e.pk].reference if e.pk in holds else "",
            "hold_state": holds[e.pk].state if e.pk in holds else "",
        }
        for e in entries
    ]


def erase_loyalty_data(departure: Departure) -> None:
    """Precondition: the member row is locked (``member_leave``); the account is next in the
    order of ``core.locking``, and its redemptions and pending awards change under it."""
    account = lock_one(Lock.POINTS_ACCOUNT, PointsAccount.objects.filter(member=departure.member))
    if account is None:
        return
    PointsAccount.objects.filter(pk=account.pk).update(manual_tier_reason="")
    Redemption.objects.filter(account=account).update(
        shipping_name="", shipping_phone="", shipping_address="", staff_note=""
    )
    PendingAward.objects.filter(account=account).update(decision_reason="")
    # Partners may no longer act for someone who left; their ids for the person go.
    links = PartnerLink.objects.filter(member=departure.member)
    links.filter(state=PartnerLink.State.LINKED).update(
        state=PartnerLink.State.UNLINKED, unlinked_at=timezone.now()
    )
    links.update(partner_reference="", linked_ip=None)


def register() -> None:
    for section in (
        Section(
            "points_account",
            _("积分账户"),
            _("可用积分、待确认积分、累计获得积分和等级评估信息。"),
            points_account,
        ),
        Section(
            "points_ledger",
            _("积分明细"),
            _("每一笔积分变动（获得、兑换、过期、调整、退还），含每日签到。"),
            points_ledger,
        ),
        Section(
            "points_lots", _("积分批次"), _("每批获得的积分、剩余数量和到期时间。"), points_lots
        ),
        Section(
            "pending_points", _("待确认积分"), _("等待确认的积分及其处理结果。"), pending_points
        ),
        Section("tier_changes", _("等级变动"), _("会员等级的升降和手动设置记录。"), tier_changes),
        Section(
            "redemptions", _("积分兑换"), _("兑换的礼品、券码、收货信息和发放状态。"), redemptions
        ),
        Section(
            "partner_links",
            _("合作伙伴关联"),
            _("您关联过的合作伙伴、向其提供的信息、您同意的授权说明和时间。"),
            partner_links,
        ),
        Section(
            "partner_activity",
            _("合作伙伴积分记录"),
            _("合作伙伴为您发放、冻结、扣除和退回的每一笔积分。"),
            partner_activity,
        ),
    ):
        register_section(section)
    register_eraser("loyalty", erase_loyalty_data)
