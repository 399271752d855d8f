"""Refusals of taking part: each raised before anything was written, each with a clear,
translated message for the member."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class AccountStateNotAllowed(DomainError):
    code = "account_state"
    default_message = _("账户状态不允许此操作：只有正式会员可以参与。")


class TierTooLow(DomainError):
    code = "tier_too_low"
    default_message = _("等级不够，暂时无法参与。")


class OutsideClaimWindow(DomainError):
    code = "claim_window"
    default_message = _("不在领取时间内。")


class SoldOut(DomainError):
    code = "sold_out"
    default_message = _("已领完。")


class ClaimLimitReached(DomainError):
    code = "claim_limit"
    default_message = _("已达领取上限。")


class CancelReasonRequired(DomainError):
    code = "cancel_reason_required"
    default_message = _("请填写取消原因：会员会在通知里看到它。")


class OfferNotReady(DomainError):
    code = "offer_not_ready"
    default_message = _("这个优惠的券码还没有准备好。")


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    default_message = _("这次提交已经处理过了，请刷新页面后重试。")


class InvalidCodes(DomainError):
    code = "invalid_codes"
    default_message = _("券码格式不正确。")


class OutsideRegistrationWindow(DomainError):
    code = "registration_window"
    default_message = _("不在报名时间内。")


class AlreadyRegistered(DomainError):
    code = "already_registered"
    default_message = _("您已经报名了这个活动。")


class CancellationClosed(DomainError):
    code = "cancellation_closed"
    default_message = _("已过取消截止时间，无法取消报名。")


class NotCancellable(DomainError):
    code = "not_cancellable"
    default_message = _("已签到的报名不能取消。")


class NotRegistered(DomainError):
    code = "not_registered"
    default_message = _("您没有有效的报名，无法签到。")


class CardHolderNotRegistered(DomainError):
    code = "card_holder_not_registered"
    default_message = _("该会员没有这个活动的有效报名（未报名、候补中或已取消），不能签到。")


class CardHolderNotAdmitted(DomainError):
    code = "card_holder_not_admitted"
    default_message = _("该会员的账户状态不允许签到（非正式会员、已暂停或已退出）。")


class HoldExpired(DomainError):
    code = "hold_expired"
    default_message = _("为您保留的名额已过期，已顺延给下一位。")


class StillAvailable(DomainError):
    code = "still_available"
    default_message = _("还有名额，请直接领取或报名，不需要候补。")


class AlreadyWaiting(DomainError):
    code = "already_waiting"
    default_message = _("您已经在候补名单中了。")


class DrawPending(DomainError):
    code = "draw_pending"
    default_message = _("名额将通过抽签分配，请在报名期内参加抽签，开奖后再来。")


class NotADraw(DomainError):
    code = "not_a_draw"
    default_message = _("这个项目不抽签。")


class DrawNotOpen(DomainError):
    code = "draw_not_open"
    default_message = _("抽签报名尚未开始。")


class DrawClosed(DomainError):
    code = "draw_closed"
    default_message = _("抽签报名已截止，您的报名没有被接受。")


class AlreadyEntered(DomainError):
    code = "already_entered"
    default_message = _("您已经参加了这次抽签。")


class DrawNotDue(DomainError):
    code = "draw_not_due"
    default_message = _("抽签报名截止后才能开奖。")


class DrawSettingsLocked(DomainError):
    code = "draw_settings_locked"
    default_message = _("已经有会员参加抽签，分配方式、报名时间和权重不能再修改。")


class InvalidAllocation(DomainError):
    code = "invalid_allocation"
    default_message = _("分配设置不正确。")
