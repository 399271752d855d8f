"""Websocket consumers."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.events import user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_SESSION_ENDED = 4403


class MemberEventsConsumer(AsyncJsonWebsocketConsumer):
    """Delivers a signed-in user's events; anonymous connections are refused.

    The consumer does no database work per message: it only forwards what services published
    to the groups it joined at connect time.
    """

    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.joined = [user_group(user.pk)]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def club_event(self, message: dict) -> None:
        await self.send_json(message["payload"])

    async def club_disconnect(self, message: dict) -> None:
        """The member's sessions were ended (suspension, leaving): close this socket too."""
        await self.close(code=CLOSE_SESSION_ENDED)
