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
    from community.announcements import item_announce, items_with_open_windows

    call_command("publish_scheduled")
    count = 0
    for page_id in items_with_open_windows():
        count += len(item_announce(page_id=page_id))
    return count
