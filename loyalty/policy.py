"""Pure rules of the loyalty programme: dates, periods, multipliers and redemption eligibility.

No database access here. Services and selectors both call these, so the catalogue's "why not"
and the redemption's refusal can never disagree.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from core.errors import DomainError
from loyalty import errors
from loyalty.models import LoyaltySettings, Reward

# The default qualifying window (staff change it in ``LoyaltySettings.qualifying_months``).
QUALIFYING_MONTHS = 12
# Tier evaluations come once a year, whatever the window: a year after the account opened, then a
# year after each evaluation.
EVALUATION_MONTHS = 12


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_midnight(day: date) -> datetime:
    """The aware start of ``day`` in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def lot_expiry(*, earned_at: datetime, policy: str, months: int) -> datetime | None:
    """When points earned at ``earned_at`` expire: the local midnight after their last valid day.

    ``months_after``: the same day N months later is the last valid day; ``end_of_month``: the end
    of the month N months later; ``end_of_year``: the end of the year N months later falls in.
    """
    if policy == LoyaltySettings.ExpiryPolicy.NEVER:
        return None
    target = add_months(timezone.localtime(earned_at).date(), months)
    if policy == LoyaltySettings.ExpiryPolicy.MONTHS_AFTER:
        last_day = target
    elif policy == LoyaltySettings.ExpiryPolicy.END_OF_MONTH:
        last_day = target.replace(day=calendar.monthrange(target.year, target.month)[1])
    else:
        last_day = date(target.year, 12, 31)
    return local_midnight(last_day + timedelta(days=1))


def period_start(period: str, now: datetime) -> datetime:
    """The aware start of the local day, week (Monday) or month containing ``now``."""
    today = timezone.localtime(now).date()
    if period == "day":
        return local_midnight(today)
    if period == "week":
        return local_midnight(today - timedelta(days=today.weekday()))
    if period == "month":
        return local_midnight(today.replace(day=1))
    raise ValueError(period)


def apply_multiplier(points: int, multiplier: Decimal | None) -> int:
    """Points after a tier multiplier, rounded half up, never below one."""
    if multiplier is None:
        return points
    return max(1, int((Decimal(points) * multiplier).quantize(Decimal(1), ROUND_HALF_UP)))


def in_window(start: datetime | None, end: datetime | None, now: datetime) -> bool:
    return (start is None or start <= now) and (end is None or now < end)


def reward_visible(reward: Reward, now: datetime) -> bool:
    return reward.live and in_window(reward.visible_from, reward.visible_until, now)


def reward_problems(
    *,
    member_state: str,
    tier_rank: int | None,
    reward: Reward,
    balance: int,
    redeemed_total: int,
    redeemed_in_period: int,
    free_codes: int | None,
    now: datetime,
) -> list[DomainError]:
    """Every reason the member cannot redeem ``reward`` now; empty means they can.

    Order matters: the first problem is the one a refused redemption reports.
    """
    from members.models import Member

    if member_state == Member.State.SUSPENDED:
        return [errors.AccountSuspended()]
    if member_state != Member.State.MEMBER:
        return [errors.NotAMember()]
    if not reward_visible(reward, now):
        return [errors.RewardUnavailable()]
    problems: list[DomainError] = []
    if not in_window(reward.redeemable_from, reward.redeemable_until, now):
        problems.append(errors.OutsideWindow.for_reward(reward, now))
    if reward.min_tier_id and (tier_rank is None or tier_rank < reward.min_tier.rank):
        problems.append(errors.TierTooLow.for_tier(reward.min_tier))
    if reward.limit_per_member is not None and redeemed_total >= reward.limit_per_member:
        problems.append(errors.LimitReached())
    elif reward.limit_per_period is not None and redeemed_in_period >= reward.limit_per_period:
        problems.append(errors.LimitReached.for_period(reward.get_limit_period_display()))
    out_of_stock = reward.stock_total is not None and reward.issued >= reward.stock_total
    if out_of_stock or (reward.fulfilment == Reward.Fulfilment.COUPON and not free_codes):
        problems.append(errors.OutOfStock())
    if balance < reward.cost:
        problems.append(errors.InsufficientPoints.for_amounts(need=reward.cost, have=balance))
    return problems
