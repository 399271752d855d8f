"""Scheduled work of the loyalty programme: thin wrappers around services, safe to run twice.

Every job is idempotent by the state it reads under lock (a lot with nothing left is not expired
again, an approved award is not approved again, a reminder row exists once per expiry date).
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="loyalty.expire_points", acks_late=True)
def expire_points() -> int:
    from loyalty.services import points_expire_due

    return points_expire_due()


@shared_task(name="loyalty.remind_expiring", acks_late=True)
def remind_expiring() -> int:
    from loyalty.services import points_expiry_remind

    return points_expiry_remind()


@shared_task(name="loyalty.release_pending", acks_late=True)
def release_pending() -> int:
    from loyalty.services import points_release_due

    return points_release_due()


@shared_task(name="loyalty.evaluate_tiers", acks_late=True)
def evaluate_tiers() -> dict[str, int]:
    from loyalty.services import tiers_evaluate_due

    return tiers_evaluate_due()


@shared_task(name="loyalty.expire_redemptions", acks_late=True)
def expire_redemptions() -> int:
    from loyalty.services import redemptions_expire_due

    return redemptions_expire_due()


@shared_task(name="loyalty.sweep_member_events", acks_late=True)
def sweep_member_events() -> int:
    from loyalty.services import member_events_sweep

    return member_events_sweep()


@shared_task(name="loyalty.award_birthdays", acks_late=True)
def award_birthdays() -> int:
    from loyalty.services import points_award_birthdays

    return points_award_birthdays()


@shared_task(name="loyalty.award_profile_completed", acks_late=True)
def award_profile_completed(member_id: int) -> int:
    """Enqueued after a member's save completes their profile (``members.hooks``)."""
    from loyalty.services import points_award_profile_completed

    return sum(award.created for award in points_award_profile_completed(member_id=member_id))


@shared_task(name="loyalty.warn_tier_at_risk", acks_late=True)
def warn_tier_at_risk() -> int:
    from loyalty.services import tiers_warn_at_risk

    return tiers_warn_at_risk()


@shared_task(name="loyalty.reconcile")
def reconcile() -> int:
    """Log every discrepancy loudly; the management command is the same check for operators."""
    from loyalty.selectors import reconcile as find_discrepancies

    found = find_discrepancies()
    for discrepancy in found:
        logger.error("points reconciliation: %s", discrepancy)
    if not found:
        logger.info("points reconciliation: every account balances")
    return len(found)


@shared_task(name="loyalty.expire_partner_holds", acks_late=True)
def expire_partner_holds() -> int:
    from loyalty.services import partner_holds_expire_due

    return partner_holds_expire_due()
