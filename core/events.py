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
#: Control messages to a member's own group: their sockets re-read which groups they belong in
#: (after a tier change, a mute), or close (suspension, leaving). Never forwarded to a browser.
REGROUP_MESSAGE_TYPE = "club.regroup"
CLOSE_MESSAGE_TYPE = "club.disconnect"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def tier_group(tier_code: str) -> str:
    return f"tier.{tier_code}"


STAFF_GROUP = "staff"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - a down socket layer must not fail the business action
        logger.exception("real-time message to %s could not be published", group)


def publish_now(group: str, payload: dict[str, Any]) -> None:
    """Send to a channel-layer group immediately; only for code already outside a transaction.

    The message names its group, so a socket that has just left the group (a member moved to
    another tier) drops what was already on its way instead of showing it.
    """
    _send(group, {"type": EVENT_MESSAGE_TYPE, "group": group, "payload": payload})


def publish_on_commit(group: str, payload: dict[str, Any]) -> None:
    """Send to a group once the current transaction commits (immediately when none is open)."""
    transaction.on_commit(lambda: publish_now(group, payload))


def regroup_on_commit(user_id: int) -> None:
    """After commit, make the user's open sockets re-read their groups and mutes.

    Services call it when what a member's socket may receive changes: a tier change moves them
    to the new tier's broadcasts at once, a mute stops that kind arriving live. A socket whose
    user may no longer connect closes itself.
    """
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": REGROUP_MESSAGE_TYPE}))


def close_sockets_on_commit(user_id: int) -> None:
    """After commit, close every open socket of the user (suspension, leaving)."""
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": CLOSE_MESSAGE_TYPE}))
