"""Background work of the community: thin wrappers, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(name="community.announce_item", acks_late=True)
def announce_item(page_id: int) -> list[str]:
    from community.announcements import item_announce

    return item_announce(page_id=page_id)


@shared_task(name="community.announce_opened_windows")
def announce_opened_windows() -> int:
    """Every minute: publish scheduled pages, then announce items whose early access ended."""
    from community.announcements import early_access_sweep

    call_command("publish_scheduled")
    return early_access_sweep()


@shared_task(name="community.flush_item_views")
def flush_item_views() -> int:
    """Every few seconds: add the views counted in Redis to the item view table."""
    from community.participation.services import item_views_flush

    return item_views_flush()


@shared_task(name="community.process_photo", acks_late=True)
def process_photo(photo_id: int) -> str:
    """Re-encode a member's uploaded photo (safe to run twice: only a photo still processing)."""
    from community.photos.services import photo_process

    return photo_process(photo_id=photo_id)


@shared_task(name="community.expire_holds")
def expire_holds() -> int:
    """Every minute: pass on holds of the waiting list and of draw winners that ran out."""
    from community.participation.services import holds_expire

    return holds_expire()


@shared_task(name="community.run_due_draws")
def run_due_draws() -> int:
    """Every minute: run the draws whose entry window has closed (a draw runs once)."""
    from community.participation.services import draws_due

    return draws_due()


@shared_task(name="community.notify_draw_result", acks_late=True)
def notify_draw_result(item_id: int) -> int:
    """After a draw: tell each entrant who did not win their place on the waiting list."""
    from community.participation.services import draw_notify_waiting

    return draw_notify_waiting(item_id=item_id)
