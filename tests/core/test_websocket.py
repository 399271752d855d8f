"""Websockets go through the ASGI app and the real Redis channel layer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.asgi import application
from core.events import publish_now, publish_on_commit, regroup_on_commit, user_group
from core.models import Notification
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def headers(session_key: str | None = None, origin: str = "http://testserver"):
    result = [(b"host", b"testserver"), (b"origin", origin.encode())]
    if session_key:
        result.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return result


def session_for(client, user) -> str:
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def connect(headers_):
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers_)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_signed_in_member_receives_events_published_to_them(client):
    member = MemberFactory()
    other = MemberFactory()
    session = session_for(client, member.user)

    async def scenario():
        communicator, connected, _ = await connect(headers(session))
        assert connected
        await async_publish(user_group(other.user.pk), {"kind": "not-for-you"})
        await async_publish(user_group(member.user.pk), {"kind": "points", "body": "+20"})
        received = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return received

    assert async_to_sync(scenario)() == {"kind": "points", "body": "+20"}


async def async_publish(group, payload):
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send(group, {"type": "club.event", "payload": payload})


def test_anonymous_connection_is_refused():
    async def scenario():
        communicator, connected, code = await connect(headers())
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected
    assert code == 4401


def test_foreign_origin_is_refused(client):
    member = MemberFactory()
    session = session_for(client, member.user)

    async def scenario():
        communicator, connected, _ = await connect(headers(session, origin="https://evil.example"))
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


def test_event_of_a_rolled_back_transaction_is_never_delivered(client):
    member = MemberFactory()
    session = session_for(client, member.user)
    group = user_group(member.user.pk)

    class Abort(Exception):
        pass

    async def scenario():
        communicator, connected, _ = await connect(headers(session))
        assert connected
        from asgiref.sync import sync_to_async

        def rolled_back_then_committed():
            try:
                with transaction.atomic():
                    publish_on_commit(group, {"kind": "rolled-back"})
                    raise Abort
            except Abort:
                pass
            with transaction.atomic():
                publish_on_commit(group, {"kind": "committed"})

        await sync_to_async(rolled_back_then_committed)()
        first = await communicator.receive_json_from(timeout=5)
        nothing_more = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return first, nothing_more

    first, nothing_more = async_to_sync(scenario)()
    assert first == {"kind": "committed"}
    assert nothing_more


def test_publish_now_tolerates_unreachable_layer(settings):
    # A down Redis must not turn a committed business action into an error page.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        publish_now("user.1", {"kind": "x"})
    finally:
        channel_layers.backends.clear()


# --- Live groups follow the member ------------------------------------------------------------


async def probe(communicator, user_id: int) -> list[dict]:
    """Everything the socket shows up to a marker sent to the member's own group.

    A regroup message sent to that group earlier has been handled by the time the marker
    arrives: the consumer handles its messages one at a time, in order.
    """
    marker = {"kind": "probe", "id": uuid.uuid4().hex}
    await async_publish(user_group(user_id), marker)
    seen = []
    while (message := await communicator.receive_json_from(timeout=5)) != marker:
        if message.get("kind") != "probe":  # another socket's marker
            seen.append(message)
    return seen


def broadcast(tier_code: str, title: str, kind: str = "item_opened", user_ids=()) -> None:
    from core.notifications import notify_tier

    notify_tier(tier_code=tier_code, user_ids=list(user_ids), kind=kind, title=title,
                dedupe_key=f"test:{tier_code}:{title}")  # fmt: skip


def test_tier_change_moves_an_open_socket_to_the_new_tier_at_once(client):
    from django.test import Client

    from loyalty.services import tier_set_manual
    from tests.factories import StaffFactory, standard_tiers

    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["silver"])
    stays_silver = MemberFactory(tier=tiers["silver"])
    staff = StaffFactory()
    session = session_for(client, member.user)
    other_session = session_for(Client(), stays_silver.user)
    until = timezone.localdate() + timedelta(days=30)

    async def scenario():
        socket, connected, _ = await connect(headers(session))
        other, other_connected, _ = await connect(headers(other_session))
        assert connected and other_connected
        await sync_to_async(broadcast)("silver", "银卡新内容一")
        before = await probe(socket, member.user_id)
        await sync_to_async(tier_set_manual)(
            member=member, tier=tiers["gold"], until=until, reason="活动奖励", actor=staff
        )
        await probe(socket, member.user_id)  # the tier change has reached the socket
        await sync_to_async(broadcast)("silver", "银卡新内容二")
        await sync_to_async(broadcast)("gold", "金卡新内容")
        after = await probe(socket, member.user_id)
        still_silver = [m["title"] for m in await probe(other, stays_silver.user_id)]
        await socket.disconnect()
        await other.disconnect()
        return [m["title"] for m in before], [m["title"] for m in after], still_silver

    before, after, still_silver = async_to_sync(scenario)()
    assert before == ["银卡新内容一"]
    assert after == ["金卡新内容"]  # the old tier's broadcast no longer arrives
    assert still_silver == ["银卡新内容一", "银卡新内容二"]


def test_downgrade_stops_the_higher_tier_broadcasts(client):
    from loyalty.services import tier_set_manual
    from tests.factories import StaffFactory, standard_tiers

    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    staff = StaffFactory()
    session = session_for(client, member.user)
    until = timezone.localdate() + timedelta(days=30)

    async def scenario():
        socket, connected, _ = await connect(headers(session))
        assert connected
        await sync_to_async(tier_set_manual)(
            member=member, tier=tiers["silver"], until=until, reason="更正", actor=staff
        )
        await probe(socket, member.user_id)
        await sync_to_async(broadcast)("gold", "金卡专享：内部价")
        await sync_to_async(broadcast)("silver", "银卡新内容")
        seen = [m["title"] for m in await probe(socket, member.user_id)]
        await socket.disconnect()
        return seen

    assert async_to_sync(scenario)() == ["银卡新内容"]


def test_suspension_closes_an_open_socket_at_once(client):
    from members.services import member_suspend
    from tests.factories import StaffFactory

    member = MemberFactory()
    staff = StaffFactory()
    session = session_for(client, member.user)

    async def scenario():
        socket, connected, _ = await connect(headers(session))
        assert connected
        await sync_to_async(member_suspend)(member=member, actor=staff, reason="违规")
        output = await socket.receive_output(timeout=5)
        while output["type"] == "websocket.send":
            output = await socket.receive_output(timeout=5)
        return output

    closed = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": 4403}


def test_a_socket_closes_when_a_regroup_finds_the_member_gone(client):
    """Whatever path changed the member's state, the next regroup closes the socket."""
    from members.models import Member

    member = MemberFactory()
    session = session_for(client, member.user)

    async def scenario():
        socket, connected, _ = await connect(headers(session))
        assert connected

        def leave_without_a_close_message():
            Member.objects.filter(pk=member.pk).update(state=Member.State.LEFT)
            regroup_on_commit(member.user_id)

        await sync_to_async(leave_without_a_close_message)()
        return await socket.receive_output(timeout=5)

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4403}


def test_tier_broadcasts_of_a_muted_kind_are_not_shown(client):
    from django.test import Client

    from core.notifications import set_muted
    from tests.factories import standard_tiers

    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    session = session_for(client, member.user)
    later_session = session_for(Client(), member.user)

    async def scenario():
        open_before, connected, _ = await connect(headers(session))
        assert connected
        await sync_to_async(set_muted)(user=member.user, kind="item_opened", muted=True)
        opened_after, connected, _ = await connect(headers(later_session))
        assert connected
        await probe(open_before, member.user_id)
        await sync_to_async(broadcast)("gold", "新内容", user_ids=[member.user_id])
        await sync_to_async(broadcast)("gold", "俱乐部消息", kind="club_message")
        seen = [[m["title"] for m in await probe(s, member.user_id)]
                for s in (open_before, opened_after)]  # fmt: skip
        await sync_to_async(set_muted)(user=member.user, kind="item_opened", muted=False)
        await probe(open_before, member.user_id)
        await sync_to_async(broadcast)("gold", "又一条新内容")
        seen.append([m["title"] for m in await probe(open_before, member.user_id)])
        for communicator in (open_before, opened_after):
            await communicator.disconnect()
        return seen

    muted_live, muted_at_connect, unmuted = async_to_sync(scenario)()
    assert muted_live == ["俱乐部消息"]
    assert muted_at_connect == ["俱乐部消息"]
    assert unmuted == ["又一条新内容"]
    assert not Notification.objects.filter(user=member.user, kind="item_opened").exists()
