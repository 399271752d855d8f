"""Websockets go through the ASGI app and the real Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction

from config.asgi import application
from core.events import publish_now, publish_on_commit, user_group
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
