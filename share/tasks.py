"""Celery entry points for sharing; the logic (and the exactly-once discipline) is in services."""

from __future__ import annotations

from celery import shared_task

from share import services


@shared_task(name="share.post", acks_late=True, reject_on_worker_lost=True)
def post_share(share_id: int) -> str:
    return services.share_post(share_id=share_id)


@shared_task(name="share.sweep")
def sweep() -> dict:
    return services.shares_sweep()


@shared_task(name="share.flush_visits")
def flush_visits() -> int:
    return services.share_visits_flush()


@shared_task(name="share.check_deleted_posts")
def check_deleted_posts() -> int:
    """Hourly: read recent posts back from Weibo; a deleted one gives back its share points."""
    from share.deleted_posts import share_post_check, shares_to_check

    return sum(share_post_check(share_id=share_id) for share_id in shares_to_check())
