"""Notifications: persisted first, delivered live over the Redis channel layer, caught up later."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from community import demo
from community.models import CommunityHome, PostPage
from config.asgi import application
from core.models import Notification
from core.notifications import notify, notify_tier, set_muted
from members.models import Member
from tests.conftest import wait_until
from tests.factories import MemberFactory, StaffFactory, standard_tiers


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={value}".encode()


async def open_socket(user_cookie: bytes | None):
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if user_cookie:
        headers.append((b"cookie", user_cookie))
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def received(communicator, timeout=3.0) -> list[dict]:
    messages = []
    while not await communicator.receive_nothing(timeout=timeout):
        messages.append(await communicator.receive_json_from())
        timeout = 0.3
    return messages


@pytest.mark.django_db(transaction=True)
def test_members_get_their_own_and_their_tiers_events_only():
    tiers = standard_tiers()
    gold = MemberFactory(tier=tiers["gold"])
    other_gold = MemberFactory(tier=tiers["gold"])
    silver = MemberFactory(tier=tiers["silver"])
    cookies = {m.pk: session_cookie(m.user) for m in (gold, other_gold, silver)}

    async def scenario():
        sockets = {}
        for member in (gold, other_gold, silver):
            communicator, connected, _ = await open_socket(cookies[member.pk])
            assert connected
            sockets[member.pk] = communicator
        await sync_to_async(notify)(user_id=gold.user_id, kind="points_awarded",
                                    title="获得 20 积分")  # fmt: skip
        await sync_to_async(notify_tier)(
            tier_code="gold", user_ids=[gold.user_id, other_gold.user_id],
            kind="item_opened", title="金卡新内容", dedupe_key="item:test",
        )  # fmt: skip
        result = {pk: await received(c) for pk, c in sockets.items()}
        for communicator in sockets.values():
            await communicator.disconnect()
        return result

    result = async_to_sync(scenario)()
    titles = {pk: [m["title"] for m in messages] for pk, messages in result.items()}
    assert titles[gold.pk] == ["获得 20 积分", "金卡新内容"]
    assert titles[other_gold.pk] == ["金卡新内容"]  # never another member's own events
    assert titles[silver.pk] == []  # never a higher tier's broadcast
    assert Notification.objects.filter(user=other_gold.user, kind="item_opened").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", [Member.State.APPLICANT, Member.State.SUSPENDED])
def test_applicants_suspended_and_outsiders_are_refused(state):
    member = MemberFactory(state=state)
    cookie = session_cookie(member.user)

    async def scenario():
        refused = []
        for user_cookie in (cookie, None):
            communicator, connected, code = await open_socket(user_cookie)
            refused.append((connected, code))
            await communicator.disconnect()
        return refused

    assert async_to_sync(scenario)() == [(False, 4403), (False, 4401)]


@pytest.mark.django_db(transaction=True)
def test_staff_socket_receives_live_counter_events():
    staff = StaffFactory()
    cookie = session_cookie(staff)

    async def scenario():
        communicator, connected, _ = await open_socket(cookie)
        assert connected
        from core.notifications import notify_staff

        await sync_to_async(notify_staff)(counter="joins")
        messages = await received(communicator)
        await communicator.disconnect()
        return messages

    assert async_to_sync(scenario)() == [{"type": "counter", "counter": "joins"}]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_publishing_an_item_announces_it_from_a_real_worker_to_eligible_tiers_only(
    celery_worker_process,
):
    tiers = standard_tiers()
    demo.load_structure()
    gold = MemberFactory(tier=tiers["gold"])
    silver = MemberFactory(tier=tiers["silver"])
    cookies = {gold.pk: session_cookie(gold.user), silver.pk: session_cookie(silver.user)}
    home = CommunityHome.objects.get()

    async def scenario():
        sockets = {}
        for member in (gold, silver):
            communicator, connected, _ = await open_socket(cookies[member.pk])
            assert connected
            sockets[member.pk] = communicator

        def publish():
            post = PostPage(title="金卡专享新文章", slug="gold-news", summary="公开摘要",
                            access="min_tier", min_tier=tiers["gold"],
                            body=[("paragraph", "<p>开头</p>"), ("paywall", None),
                                  ("paragraph", "<p>机密正文</p>")])  # fmt: skip
            home.add_child(instance=post)
            post.save_revision().publish()

        await sync_to_async(publish)()
        # Gold's notice proves the worker ran; silver then gets a short extra wait.
        result = {gold.pk: await received(sockets[gold.pk], timeout=20)}
        result[silver.pk] = await received(sockets[silver.pk], timeout=1)
        for communicator in sockets.values():
            await communicator.disconnect()
        return result

    result = async_to_sync(scenario)()
    assert [m["title"] for m in result[gold.pk]] == ["新内容向您开放：金卡专享新文章"]
    assert "机密正文" not in repr(result[gold.pk])
    assert result[silver.pk] == []
    assert wait_until(lambda: Notification.objects.filter(user=gold.user).exists())
    assert not Notification.objects.filter(user=silver.user).exists()


@pytest.mark.django_db
def test_notification_centre_lists_marks_read_and_mutes(client):
    member = MemberFactory()
    client.force_login(member.user)
    for index in range(25):
        notify(user_id=member.user_id, kind="points_awarded", title=f"通知 {index}")
    page = client.get("/notifications/").content.decode()
    assert "通知 24" in page and "通知 4" not in page  # newest first, 20 per page
    assert 'data-count="25"' in client.get("/members/me/").content.decode()

    newest = Notification.objects.filter(user=member.user).first()
    client.post("/notifications/read/", {"id": newest.pk})
    assert Notification.objects.filter(user=member.user, read_at__isnull=True).count() == 24
    client.post("/notifications/read/", {"all": "1"})
    assert not Notification.objects.filter(user=member.user, read_at__isnull=True).exists()

    client.post("/notifications/preferences/", {"muted": ["points_awarded"]})
    assert notify(user_id=member.user_id, kind="points_awarded", title="静音") is None
    assert notify(user_id=member.user_id, kind="tier_up", title="升级") is not None


@pytest.mark.django_db
def test_catch_up_returns_what_a_closed_socket_missed(client):
    member = MemberFactory()
    client.force_login(member.user)
    first = notify(user_id=member.user_id, kind="points_awarded", title="第一条")
    notify(user_id=member.user_id, kind="points_awarded", title="第二条")
    data = client.get(f"/notifications/api/?after={first.pk}").json()
    assert [item["title"] for item in data["items"]] == ["第二条"]
    assert data["unread"] == 2
    other = MemberFactory()
    assert "第二条" not in Client().get("/notifications/api/").content.decode()
    client.force_login(other.user)
    assert client.get("/notifications/api/").json() == {"unread": 0, "items": []}


@pytest.mark.django_db
def test_muting_is_per_user(client):
    a, b = MemberFactory(), MemberFactory()
    set_muted(user=a.user, kind="tier_up", muted=True)
    assert notify(user_id=a.user_id, kind="tier_up", title="x") is None
    assert notify(user_id=b.user_id, kind="tier_up", title="x") is not None
