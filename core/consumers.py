"""Websocket consumers."""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.events import STAFF_GROUP, tier_group, user_group

log = logging.getLogger(__name__)
JOIN_ATTEMPTS = 4

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_ALLOWED = 4403
CLOSE_SESSION_ENDED = 4403


@database_sync_to_async
def _groups_for(user) -> list[str] | None:
    """The groups a user's socket joins, or None when the user may not connect."""
    from members.selectors import viewer_status

    viewer = viewer_status(user)
    if viewer.kind == "staff":
        return [user_group(user.pk), STAFF_GROUP]
    if viewer.kind != "member":
        return None  # outsiders, applicants, suspended and departed members get no socket
    groups = [user_group(user.pk)]
    if viewer.tier is not None:
        groups.append(tier_group(viewer.tier.code))
    return groups


class MemberEventsConsumer(AsyncJsonWebsocketConsumer):
    """Delivers a member's own events, their tier's broadcasts, and staff counters to staff.

    Membership is checked once, at connect; per message the consumer only forwards what was
    published to the groups it joined (no database work), so a tier-wide broadcast costs one
    channel-layer publish however many members listen.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await _groups_for(user)
        if groups is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.joined = groups
        for group in groups:
            await self._join(group)
        await self.accept()

    async def _join(self, group: str) -> None:
        """Join a group, riding out a Redis that has just come back.

        After a Redis restart the layer's subscriber connection is re-established by its own
        receive loop; a subscribe that races it fails once with a connection error. Without a
        retry that failure refused the handshake, and the browser had to back off and reconnect.
        """
        for attempt in range(1, JOIN_ATTEMPTS + 1):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
                return
            except (redis.exceptions.ConnectionError, OSError) as exc:
                if attempt == JOIN_ATTEMPTS:
                    raise
                log.info("joining %s failed (%s); trying again", group, exc)
                await asyncio.sleep(0.1 * attempt)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def club_event(self, message: dict) -> None:
        await self.send_json(message["payload"])

    async def club_disconnect(self, message: dict) -> None:
        """The member's sessions were ended (suspension, leaving): close this socket too."""
        await self.close(code=CLOSE_SESSION_ENDED)
