"""Business actions of the loyalty programme (one transaction per public function).

Other apps use ``points_award_for_event`` (earn by rule, idempotent by natural key),
``points_pending_approve`` / ``points_pending_cancel`` (resolve pending points of an event),
``points_spend`` / ``points_refund`` (a points price outside the rewards catalogue),
``points_event_key`` / ``points_reverse_for_event`` (an event undone: its awards taken back,
a later round awarded afresh).
"""

from loyalty.services.points import (
    points_account_lock,
    points_adjust,
    points_expire_account,
    points_expire_due,
    points_expiry_remind,
    points_pending_approve,
    points_pending_cancel,
    points_refund,
    points_release_due,
    points_reverse,
    points_spend,
    points_spend_for_offer,
)
from loyalty.services.reversals import points_event_key, points_reverse_for_event
from loyalty.services.rewards import (
    RedeemResult,
    Shipping,
    coupon_codes_add,
    redemption_cancel,
    redemption_fulfil,
    redemptions_expire_due,
    reward_redeem,
)
from loyalty.services.rules import (
    Award,
    member_events_sweep,
    points_award_birthdays,
    points_award_for_event,
    points_award_profile_completed,
    points_checkin,
)
from loyalty.services.tier_risk import tier_projection, tiers_warn_at_risk
from loyalty.services.tiers import tier_evaluate, tier_set_manual, tiers_evaluate_due

__all__ = [
    "points_spend_for_offer",
    "points_account_lock",
    "Award",
    "RedeemResult",
    "Shipping",
    "coupon_codes_add",
    "member_events_sweep",
    "points_adjust",
    "points_award_birthdays",
    "points_award_for_event",
    "points_award_profile_completed",
    "points_checkin",
    "points_expire_account",
    "points_expire_due",
    "points_expiry_remind",
    "points_pending_approve",
    "points_pending_cancel",
    "points_refund",
    "points_event_key",
    "points_release_due",
    "points_reverse",
    "points_reverse_for_event",
    "points_spend",
    "redemption_cancel",
    "redemption_fulfil",
    "redemptions_expire_due",
    "reward_redeem",
    "tier_evaluate",
    "tier_projection",
    "tier_set_manual",
    "tiers_evaluate_due",
    "tiers_warn_at_risk",
]
