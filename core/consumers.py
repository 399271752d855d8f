"""Websocket consumers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.exceptions
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.events import STAFF_GROUP, tier_group, user_group

log = logging.getLogger(__name__)
JOIN_ATTEMPTS = 4

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_ALLOWED = 4403
CLOSE_SESSION_ENDED = 4403


@dataclass(frozen=True)
class SocketState:
    """What one socket listens to: its groups, and the notification kinds its user muted."""

    groups: tuple[str, ...]
    muted: frozenset[str]


@database_sync_to_async
def _state_for(user_id: int) -> SocketState | None:
    """The groups and mutes of a user's socket, read fresh; None when the user may not connect.

    Read at connect and again on every regroup message, never per delivered message.
    """
    from django.contrib.auth import get_user_model

    from core.models import NotificationPreference
    from members.selectors import viewer_status

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    viewer = viewer_status(user)
    if viewer.kind == "staff":
        groups = (user_group(user_id), STAFF_GROUP)
    elif viewer.kind == "member":
        # outsiders, applicants, suspended and departed members get no socket
        tier = (tier_group(viewer.tier.code),) if viewer.tier is not None else ()
        groups = (user_group(user_id), *tier)
    else:
        return None
    muted = NotificationPreference.objects.filter(user_id=user_id).values_list("kind", flat=True)
    return SocketState(groups, frozenset(muted))


class MemberEventsConsumer(AsyncJsonWebsocketConsumer):
    """Delivers a member's own events, their tier's broadcasts, and staff counters to staff.

    Membership is checked at connect; per message the consumer only forwards what was
    published to the groups it is in (no database work), so a tier-wide broadcast costs one
    channel-layer publish however many members listen. Its groups follow the member: a
    service that changes their tier, state or mutes sends a regroup (or close) message to the
    member's own group after commit, and the socket re-reads its groups and mutes then, leaves
    the old tier's group and joins the new one, or closes when the member may no longer
    connect. A broadcast is dropped when its kind is muted, or when it was addressed to a
    group this socket has left (it may already have been on its way).
    """

    joined: tuple[str, ...] = ()
    muted: frozenset[str] = frozenset()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        state = await _state_for(user.pk)
        if state is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        await self._apply(state)
        await self.accept()

    async def _apply(self, state: SocketState) -> None:
        """Leave the groups the socket no longer belongs in, then join the new ones."""
        for group in self.joined:
            if group not in state.groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        joined = set(self.joined)
        self.joined = state.groups
        self.muted = state.muted
        for group in state.groups:
            if group not in joined:
                await self._join(group)

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
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = ()

    async def club_event(self, message: dict) -> None:
        group = message.get("group")
        if group is not None and group not in self.joined:
            return  # sent to a group this socket has left since (a tier it no longer holds)
        payload = message["payload"]
        if payload.get("type") == "notification" and payload.get("kind") in self.muted:
            return  # a tier broadcast of a kind the member muted
        await self.send_json(payload)

    async def club_regroup(self, message: dict) -> None:
        """The member's tier, state or mutes changed: follow them, or close."""
        state = await _state_for(self.user_id)
        if state is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        await self._apply(state)

    async def club_disconnect(self, message: dict) -> None:
        """The member's sessions were ended (suspension, leaving): close this socket too."""
        await self.close(code=CLOSE_SESSION_ENDED)
