"""Real-time events: the one helper services use to push to websockets.

Events are sent only after the surrounding transaction commits, so a rolled-back action never
shows up in a browser. Workers and web processes both publish through the Redis channel layer.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_MESSAGE_TYPE = "club.event"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def tier_group(tier_code: str) -> str:
    return f"tier.{tier_code}"


STAFF_GROUP = "staff"


def publish_now(group: str, payload: dict[str, Any]) -> None:
    """Send to a channel-layer group immediately; only for code already outside a transaction."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": EVENT_MESSAGE_TYPE, "payload": payload})
    except Exception:  # noqa: BLE001 - a down socket layer must not fail the business action
        logger.exception("real-time event to %s could not be published", group)


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    """Send to a group once the current transaction commits (immediately when none is open)."""
    transaction.on_commit(lambda: publish_now(group, payload))
