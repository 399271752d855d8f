"""Domain errors of the loyalty programme: each carries a clear, translated message.

A service raises one of these before it has changed anything (or inside the transaction, which
then rolls back), so an error always means: nothing happened.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError


class NotAMember(DomainError):
    code = "not_a_member"
    default_message = gettext_lazy("只有正式会员才能使用积分。")


class AccountSuspended(DomainError):
    code = "account_suspended"
    default_message = gettext_lazy("您的账户已被暂停，暂时不能使用积分。")


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    default_message = gettext_lazy("可用积分不足。")

    @classmethod
    def for_amounts(cls, *, need: int, have: int) -> InsufficientPoints:
        return cls(
            _("可用积分不足：需要 %(need)s 积分，您有 %(have)s 积分。")
            % {"need": need, "have": have}
        )


class OutOfStock(DomainError):
    code = "out_of_stock"
    default_message = gettext_lazy("这件礼品已经兑完了。")


class LimitReached(DomainError):
    code = "limit_reached"
    default_message = gettext_lazy("您已达到这件礼品的兑换次数上限。")

    @classmethod
    def for_period(cls, period: str) -> LimitReached:
        return cls(_("您已达到这件礼品%(period)s的兑换次数上限。") % {"period": period})


class TierTooLow(DomainError):
    code = "tier_too_low"
    default_message = gettext_lazy("您的会员等级不够。")

    @classmethod
    def for_tier(cls, tier) -> TierTooLow:
        return cls(_("这件礼品仅限%(tier)s及以上会员兑换。") % {"tier": tier.name})


class OutsideWindow(DomainError):
    code = "outside_window"
    default_message = gettext_lazy("现在不在兑换时间内。")

    @classmethod
    def for_reward(cls, reward, now: datetime) -> OutsideWindow:
        if reward.redeemable_from and now < reward.redeemable_from:
            start = timezone.localtime(reward.redeemable_from).strftime("%Y-%m-%d %H:%M")
            return cls(_("兑换将于 %(start)s 开始。") % {"start": start})
        return cls(_("兑换已经结束。"))


class RewardUnavailable(DomainError):
    code = "reward_unavailable"
    default_message = gettext_lazy("这件礼品已下架。")


class ShippingRequired(DomainError):
    code = "shipping_required"
    default_message = gettext_lazy("请填写收货人、联系电话和收货地址。")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    default_message = gettext_lazy("这个请求编号已用于另一次兑换，请刷新页面后重试。")


class AlreadyCheckedIn(DomainError):
    code = "already_checked_in"
    default_message = gettext_lazy("今天已经签到过了，明天再来吧。")


class CheckinUnavailable(DomainError):
    code = "checkin_unavailable"
    default_message = gettext_lazy("签到活动暂未开放。")


class AdjustLimitExceeded(DomainError):
    code = "adjust_limit_exceeded"
    default_message = gettext_lazy("超出您今天的积分调整额度。")


class ReasonRequired(DomainError):
    code = "reason_required"
    default_message = gettext_lazy("请填写原因。")


class NotReversible(DomainError):
    code = "not_reversible"
    default_message = gettext_lazy("这条记录不能冲正。")


class AlreadyReversed(DomainError):
    code = "already_reversed"
    default_message = gettext_lazy("这条记录已经冲正或退还过了。")


class RedemptionClosed(DomainError):
    code = "redemption_closed"
    default_message = gettext_lazy("这笔兑换已经取消或过期。")


class RedemptionNotRequested(DomainError):
    code = "redemption_not_requested"
    default_message = gettext_lazy("只有待发放的兑换可以标记为已发放。")


# --- Coalition partners -------------------------------------------------------------------------


class PartnerSuspended(DomainError):
    code = "partner_suspended"
    default_message = gettext_lazy("该合作伙伴已暂停合作。")


class NotLinked(DomainError):
    code = "not_linked"
    default_message = gettext_lazy("该会员没有关联这个合作伙伴，或已解除关联。")


class AlreadyLinked(DomainError):
    code = "already_linked"
    default_message = gettext_lazy("您已经关联了这个合作伙伴。")


class LinkCodeInvalid(DomainError):
    code = "link_code_invalid"
    default_message = gettext_lazy("关联码不正确或已过期，请在合作伙伴处重新获取。")


class PartnerLimitExceeded(DomainError):
    code = "partner_limit_exceeded"
    default_message = gettext_lazy("超出该合作伙伴每位会员的积分限额。")


class HoldStateConflict(DomainError):
    code = "hold_state_conflict"
    default_message = gettext_lazy("这笔冻结当前的状态不允许此操作。")


class HoldExpired(DomainError):
    code = "hold_expired"
    default_message = gettext_lazy("这笔冻结已过期，积分已释放。")


class AccrualStateConflict(DomainError):
    code = "accrual_state_conflict"
    default_message = gettext_lazy("这笔积分已经确认或取消。")


class StatementMonthOpen(DomainError):
    code = "statement_month_open"
    default_message = gettext_lazy("这个月份还没有结束，不能关闭对账单。")


class StatementClosed(DomainError):
    code = "statement_closed"
    default_message = gettext_lazy("这个月份的对账单已经关闭。")
