"""The club on several machines, on one: docs/operations.md's deployment, exercised end to end.

Started once for the module, each process as production starts it:

- two web processes (``config.launcher.web_server_argv``, DEBUG off), each on its own port,
  behind nginx (Debian's package) with a generated config: both ports in one upstream,
  ``proxy_next_upstream error timeout`` (nginx retries only idempotent requests), websocket
  upgrade headers, ``X-Forwarded-For`` / ``X-Forwarded-Proto``;
- two Celery workers, one on the default queue and one on the share queue (``SHARE_QUEUE``),
  and one beat (which holds the beat lease, config/beat.py);
- PgBouncer in transaction mode (Debian's package) in front of the test database; every one of
  these processes reaches PostgreSQL only through it (``DATABASE_POOLER=transaction``);
- a Weibo sandbox of the cluster's own, whose callback allowlist holds the proxy's address.

Through the proxy the tests then log in with Weibo, receive a tier broadcast on a websocket of
each web process, post a share once from whichever share worker takes it, race redemptions of a
scarce reward over both web processes, and SIGKILL one web process under load.

The processes are started with the helpers of ``tests/cluster/processes.py``, which the
scale-out benchmark (``bench/cluster.py``) shares. Select with ``-m cluster``. Without nginx
or PgBouncer the module skips and says how to install them
(``apt-get install -y nginx-light pgbouncer``).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.launcher import wait_for_port, web_server_argv
from tests.cluster.processes import (
    INSTALL,
    NGINX,
    PGBOUNCER,
    Proc,
    http_ok,
    listening_ports,
    start_nginx,
    start_pgbouncer,
    wait_ready,
)
from tests.conftest import wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        NGINX is None or PGBOUNCER is None,
        reason=f"nginx and PgBouncer are needed for the cluster test; install them: {INSTALL}",
    ),
]

CSRF = "c" * 32  # any well-formed token will do until the site sets its own
SMALL_ACCOUNT = "1001000002"  # a default sandbox user
SHARER = "1001000012"


# --- The cluster ----------------------------------------------------------------------------------


@dataclass
class Cluster:
    dir: Path
    proxy: str
    web_ports: list[int]
    sandbox: str
    default_queue: str
    share_queue: str
    procs: dict[str, Proc] = field(default_factory=dict)

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[index]}"

    def access_log(self) -> list[dict]:
        path = self.dir / "nginx" / "access.log"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def diagnostics(self) -> str:
        parts = [f"--- {name} ---\n{proc.log()[-2500:]}" for name, proc in self.procs.items()]
        return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    base = Path(tempfile.mkdtemp(prefix="club-cluster-"))
    base.chmod(0o755)
    db = connection.settings_dict
    procs: dict[str, Proc] = {}
    try:
        pgbouncer, pgb_port = start_pgbouncer(base, db)
        procs["pgbouncer"] = pgbouncer
        proxy_port, sandbox_port, *web_ports = listening_ports(4)
        proxy = f"http://127.0.0.1:{proxy_port}"
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        share_queue = f"{default_queue}-weibo"
        env = dict(
            os.environ,
            DEBUG="false",
            DATABASE_URL=f"postgres://{db.get('USER') or 'postgres'}@127.0.0.1:{pgb_port}/"
            f"{db['NAME']}",
            DATABASE_POOLER="transaction",
            SITE_URL=proxy,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CSRF_TRUSTED_ORIGINS=proxy,
            TRUSTED_PROXIES="127.0.0.1",
            STAFF_REQUIRE_MFA="false",
            WEIBO_API_BASE=sandbox,
            WEIBO_STATUS_URL=f"{sandbox}/_sandbox/#status-{{id}}",
            SHARE_QUEUE=share_queue,
            CELERY_TASK_DEFAULT_QUEUE=default_queue,
            LOG_LEVEL="INFO",
            PGAPPNAME="club-cluster",
        )
        env.pop("DATABASE_CONN_MAX_AGE", None)
        env.pop("DATABASE_TEST_NAME", None)
        procs["sandbox"] = Proc("sandbox", [
            sys.executable, "-m", "weibo_sandbox", "--host", "127.0.0.1",
            "--port", str(sandbox_port), "--app-key", os.environ["WEIBO_APP_KEY"],
            "--app-secret", os.environ["WEIBO_APP_SECRET"],
            "--safe-domain", f"127.0.0.1:{proxy_port}", "--redirect-uri", f"{proxy}/", "--quiet",
        ], env, base / "sandbox.log")  # fmt: skip
        for index, port in enumerate(web_ports):
            procs[f"web{index}"] = Proc(
                f"web{index}", web_server_argv(host="127.0.0.1", port=port, workers=1),
                env, base / f"web{index}.log",
            )  # fmt: skip
        for name, queue in (("worker-default", default_queue), ("worker-share", share_queue)):
            procs[name] = Proc(name, [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue,
                "--loglevel", "INFO", "--concurrency", "1", "--without-mingle",
                "--without-gossip", "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ], dict(env, DATABASE_CONN_MAX_AGE="0"), base / f"{name}.log")  # fmt: skip
        procs["beat"] = Proc("beat", [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", str(base / "beat-schedule"),
        ], env, base / "beat.log")  # fmt: skip
        assert wait_for_port(pgb_port, 15), pgbouncer.log() + (base / "pgbouncer").joinpath(
            "pgbouncer.log"
        ).read_text(errors="replace")
        for proc in procs.values():
            if not proc.alive() and proc.name != "pgbouncer":
                proc.start()
        procs["nginx"] = start_nginx(base, proxy_port, web_ports)
        cluster = Cluster(base, proxy, web_ports, sandbox, default_queue, share_queue, procs)
        wait_ready(procs["sandbox"], lambda: http_ok(f"{sandbox}/_sandbox/health"))
        for index in range(2):
            robots = f"{cluster.web_url(index)}/robots.txt"
            wait_ready(procs[f"web{index}"], lambda url=robots: http_ok(url))
        wait_ready(procs["nginx"], lambda: http_ok(f"{proxy}/robots.txt"))
        for name in ("worker-default", "worker-share"):
            wait_ready(procs[name], lambda n=name: "ready." in procs[n].log())
        # The beat sends nothing until its first tick takes the lease; on a busy machine that
        # comes seconds after the workers are ready.
        lease_key = f"{settings.REDIS_PREFIX}:beat:lease"
        beat_redis = redis.Redis.from_url(settings.REDIS_URL)
        wait_ready(procs["beat"], lambda: beat_redis.get(lease_key) is not None)
        yield cluster
    finally:
        for name in reversed(list(procs)):
            procs[name].stop()
        if os.environ.get("CLUSTER_KEEP_LOGS"):
            print(f"cluster logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


# --- Helpers ------------------------------------------------------------------------------------


class Browser(requests.Session):
    """A client that sends the CSRF cookie's current value as the header with every request
    (Django rotates the token at login); over plain HTTP no Referer is checked."""

    def request(self, method, url, *args, **kwargs):
        token = self.cookies.get("csrftoken", domain=urlsplit(url).hostname) or self.cookies.get(
            "csrftoken"
        )
        kwargs["headers"] = {"X-CSRFToken": token or CSRF, **(kwargs.get("headers") or {})}
        return super().request(method, url, *args, **kwargs)


def browser() -> requests.Session:
    session = Browser()
    session.cookies.set("csrftoken", CSRF)
    return session


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def member_browser(user) -> requests.Session:
    session = browser()
    session.cookies.set(settings.SESSION_COOKIE_NAME, session_cookie(user))
    return session


def earn_now(member, points: int) -> None:
    from loyalty import services
    from loyalty.models import EarningRule

    rule, _ = EarningRule.objects.get_or_create(
        trigger="custom", event_code=f"cluster-{points}",
        defaults={"name": f"奖励 {points}", "points": points},
    )  # fmt: skip
    awards = services.points_award_for_event(
        member=member, trigger="custom", event_code=rule.event_code,
        natural_key=f"cluster:{member.pk}:{points}", now=timezone.now(),
    )  # fmt: skip
    assert awards and awards[0].created


# --- Tests --------------------------------------------------------------------------------------


def test_every_process_reaches_postgresql_through_pgbouncer_in_transaction_mode(cluster):
    import psycopg2

    # The beat holds the lease, so the periodic jobs it sends run on the default worker.
    lease = redis.Redis.from_url(settings.REDIS_URL).get(f"{settings.REDIS_PREFIX}:beat:lease")
    assert lease and f":{cluster.procs['beat'].process.pid}:" in lease.decode(), (
        cluster.diagnostics()
    )
    sealed = re.compile(r"Task core\.audit_seal\[[^]]+\] succeeded")
    assert wait_until(lambda: sealed.search(cluster.procs["worker-default"].log()), 30), (
        cluster.diagnostics()
    )

    target = urlsplit(cluster.procs["web0"].env["DATABASE_URL"])
    admin = psycopg2.connect(host="127.0.0.1", port=target.port, dbname="pgbouncer",
                             user=target.username)  # fmt: skip
    admin.autocommit = True
    try:
        requests.get(f"{cluster.proxy}/robots.txt", timeout=10).raise_for_status()
        with admin.cursor() as cursor:
            cursor.execute("SHOW POOLS")
            columns = [c.name for c in cursor.description]
            pools = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            cursor.execute("SHOW STATS")
            columns = [c.name for c in cursor.description]
            stats = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        admin.close()
    name = connection.settings_dict["NAME"]
    pool = next(p for p in pools if p["database"] == name)
    assert pool["pool_mode"] == "transaction"
    assert next(s for s in stats if s["database"] == name)["total_xact_count"] > 0


def test_a_streamed_export_reads_its_rows_through_the_transaction_pool(cluster):
    """A CSV export reads its rows with ``.iterator()`` outside a transaction; PgBouncer hands
    each of its statements to the next server connection in turn (``server_round_robin``), so a
    server-side cursor would be looked for where it was never declared."""
    import psycopg2
    from django.contrib.auth.models import Permission

    from tests.factories import MemberFactory, UserFactory, standard_tiers

    tiers = standard_tiers()
    members = [MemberFactory(tier=tiers["silver"]) for _ in range(30)]
    staff = UserFactory(is_staff=True)
    for app_label, codename in (("wagtailadmin", "access_admin"), ("members", "view_member")):
        staff.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    person = member_browser(staff)
    # Several server connections in the pool, as under any load: open transactions side by side.
    target = urlsplit(cluster.procs["web0"].env["DATABASE_URL"])
    clients = [psycopg2.connect(host="127.0.0.1", port=target.port, dbname=target.path[1:],
                                user=target.username) for _ in range(4)]  # fmt: skip
    for client in clients:
        client.cursor().execute("SELECT 1")
    for client in clients:
        client.commit()  # a server left inside a transaction would be closed, not pooled
        client.close()
    export = person.get(f"{cluster.proxy}{reverse('members_admin:member_export')}", timeout=30)
    assert export.status_code == 200, export.text[:500]
    rows = export.content.decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 1 + len(members)


def test_weibo_login_through_the_proxy_spans_both_web_processes(cluster, landing_site):
    from members.models import AdmissionSettings, Member
    from members.services import invitation_batch_create
    from tests.factories import StaffFactory, standard_tiers
    from tests.members.weibo_flow import authorize_at_weibo

    tiers = standard_tiers()
    admission = AdmissionSettings.load()
    admission.default_tier = tiers["regular"]
    admission.criteria_enabled = False
    admission.save()
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    requests.post(f"{cluster.sandbox}/_sandbox/reset", timeout=5).raise_for_status()

    person = browser()
    start = person.post(f"{cluster.proxy}/accounts/weibo/login/", allow_redirects=False,
                        timeout=10)  # fmt: skip
    assert start.status_code == 302, start.text[:500]
    authorize = start.headers["Location"]
    assert authorize.startswith(cluster.sandbox)
    assert f"redirect_uri={requests.utils.quote(cluster.proxy, safe='')}" in authorize
    callback = authorize_at_weibo(authorize, uid=SMALL_ACCOUNT)
    consent = person.get(callback, timeout=20)
    assert urlsplit(consent.url).path == "/members/consent/", consent.text[:500]
    joined = person.post(f"{cluster.proxy}/members/consent/", data={"decision": "accept"},
                         timeout=20)  # fmt: skip
    assert urlsplit(joined.url).path == "/members/join/"
    person.post(f"{cluster.proxy}/members/join/invitation/", data={"code": code}, timeout=20)

    member = Member.objects.get(weibo_uid=SMALL_ACCOUNT)
    assert member.state == Member.State.MEMBER
    assert "普通" in person.get(f"{cluster.proxy}/", timeout=10).text  # the tier badge
    # The steps alternated between the two processes: the login state lives in shared storage.
    served = {entry["upstream"] for entry in cluster.access_log()
              if entry["uri"].startswith(("/accounts/weibo/", "/members/"))}  # fmt: skip
    assert served == {f"127.0.0.1:{port}" for port in cluster.web_ports}


def test_a_tier_broadcast_reaches_websockets_on_both_web_processes(cluster):
    from websockets.sync.client import connect

    from core.models import Notification
    from core.notifications import notify_tier
    from tests.factories import MemberFactory, standard_tiers

    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_cookie(member.user)}"
    urls = [*(f"ws://127.0.0.1:{port}" for port in cluster.web_ports),
            cluster.proxy.replace("http://", "ws://")]  # fmt: skip
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(connect(
                f"{url}/ws/events/", open_timeout=10,
                additional_headers={"Cookie": cookie, "Origin": url.replace("ws://", "http://")},
            ))
            for url in urls
        ]  # fmt: skip
        with transaction.atomic():
            notify_tier(tier_code="gold", user_ids=[member.user_id],
                        kind=Notification.Kind.CLUB_MESSAGE, title="金卡会员专场",
                        dedupe_key="cluster-broadcast")  # fmt: skip
        for socket in sockets:
            received = json.loads(socket.recv(timeout=10))
            assert received["broadcast"] == "cluster-broadcast"
            assert received["title"] == "金卡会员专场"
            with pytest.raises(TimeoutError):
                socket.recv(timeout=0.5)  # exactly once


def test_a_share_is_posted_once_by_the_share_worker(cluster):
    from community import demo
    from community.models import GatedPage
    from community.models_participation import Registration
    from core import crypto
    from members.models import Member
    from share.models import Share
    from tests.factories import MemberFactory, standard_tiers

    requests.post(f"{cluster.sandbox}/_sandbox/reset", timeout=5).raise_for_status()
    tiers = standard_tiers()
    demo.load()
    trip = GatedPage.objects.get(slug="milan-trip").specific
    token = requests.post(f"{cluster.sandbox}/_sandbox/tokens", json={"uid": SHARER},
                          timeout=5).json()["access_token"]  # fmt: skip
    member = MemberFactory(
        tier=tiers["gold"], weibo_uid=SHARER, weibo_screen_name="微博用户12",
        weibo_followers=2316, weibo_token_encrypted=crypto.encrypt(token),
        weibo_token_state=Member.TokenState.VALID,
    )  # fmt: skip
    Registration.objects.create(activity=trip, member=member, state=Registration.State.REGISTERED)
    person = member_browser(member.user)

    page = person.get(f"{cluster.proxy}/share/new/", params={"kind": "item", "ref": trip.pk},
                      timeout=20)  # fmt: skip
    assert page.status_code == 200, page.text[:500]
    key = re.search(r'name="confirmation_key" value="([^"]+)"', page.text).group(1)
    text = re.search(r'name="text"[^>]*>([^<]*)</textarea>', page.text).group(1)
    confirmed = person.post(
        f"{cluster.proxy}/share/new/", allow_redirects=False, timeout=20,
        data={"kind": "item", "ref": trip.pk, "text": html.unescape(text), "with_card": "0",
              "show_name": "1", "confirmation_key": key},
    )  # fmt: skip
    assert confirmed.status_code == 302, confirmed.text[:800]

    share = Share.objects.get(member=member)
    assert wait_until(lambda: Share.objects.get(pk=share.pk).state == Share.State.SENT, 30), (
        cluster.diagnostics()
    )
    posts = requests.get(f"{cluster.sandbox}/_sandbox/posts", params={"uid": SHARER},
                         timeout=5).json()  # fmt: skip
    calls = requests.get(f"{cluster.sandbox}/_sandbox/calls",
                         params={"path": "/2/statuses/share"}, timeout=5).json()  # fmt: skip
    assert len(posts) == 1 and len(calls) == 1
    assert f"{cluster.proxy}/s/{share.token}/" in posts[0]["text"]
    taken = re.compile(r"Task share\.post\[[^]]+\] received")
    assert taken.search(cluster.procs["worker-share"].log())
    assert not taken.search(cluster.procs["worker-default"].log())


def test_a_redemption_race_over_both_web_processes_is_exact(cluster):
    from loyalty.models import PointsAccount, Redemption, Reward
    from loyalty.selectors import reconcile
    from tests.factories import MemberFactory, standard_tiers

    tiers = standard_tiers()
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(20)]
    for member in members:
        earn_now(member, 100)
    reward = Reward.objects.create(name="限量礼品", cost=100, stock_total=5,
                                   fulfilment=Reward.Fulfilment.DONATION)  # fmt: skip
    path = reverse("loyalty:redeem", args=[reward.pk])
    people = [member_browser(member.user) for member in members]
    barrier = threading.Barrier(len(members))
    statuses: list[int | str] = [0] * len(members)

    def redeem(index: int) -> None:
        url = f"{cluster.web_url(index % 2)}{path}"
        headers = {"Accept": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        try:
            barrier.wait(30)
            statuses[index] = people[index].post(url, headers=headers, timeout=60).status_code
        except Exception as error:  # noqa: BLE001 - reported in the assertion
            statuses[index] = repr(error)

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(len(members))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert Counter(statuses) == {201: 5, 409: 15}, statuses
    assert Reward.objects.get(pk=reward.pk).issued == 5
    assert Redemption.objects.filter(reward=reward).count() == 5
    balances = Counter(PointsAccount.objects.filter(member__in=members).values_list(
        "balance", flat=True))  # fmt: skip
    assert balances == {0: 5, 100: 15}
    winners = {members[i].pk for i, status in enumerate(statuses) if status == 201}
    assert set(Redemption.objects.values_list("account__member_id", flat=True)) == winners
    assert reconcile() == []


def test_killing_a_web_process_under_load_loses_no_request_and_no_data(cluster):
    from loyalty.models import PointsAccount, Redemption, Reward
    from loyalty.selectors import reconcile
    from tests.factories import MemberFactory, standard_tiers

    tiers = standard_tiers()
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(4)]
    for member in members:
        earn_now(member, 1000)
    reward = Reward.objects.create(name="无限礼品", cost=10,
                                   fulfilment=Reward.Fulfilment.DONATION)  # fmt: skip
    redeem_url = f"{cluster.proxy}{reverse('loyalty:redeem', args=[reward.pk])}"
    people = [member_browser(member.user) for member in members]
    reader_sessions = [member_browser(members[i % len(members)].user) for i in range(6)]
    stop = threading.Event()
    gets: list[int | str] = []
    answered: dict[str, int] = {}  # idempotency key → final status
    resent: list[int] = []  # POSTs answered with an error (the proxy does not resend those)
    lock = threading.Lock()

    def load(index: int) -> None:
        reader = reader_sessions[index]
        pages = [f"{cluster.proxy}/robots.txt", f"{cluster.proxy}/points/"]
        turn = 0
        while not stop.is_set():
            turn += 1
            try:
                status: int | str = reader.get(pages[turn % 2], timeout=30).status_code
            except requests.RequestException as error:
                status = repr(error)
            with lock:
                gets.append(status)

    def write(index: int) -> None:
        """A client with idempotency keys: what was not answered is sent again, same key."""
        person = people[index]
        for _ in range(8):
            key = uuid.uuid4().hex
            headers = {"Accept": "application/json", "Idempotency-Key": key}
            for _attempt in range(5):
                try:
                    status = person.post(redeem_url, headers=headers, timeout=30).status_code
                except requests.RequestException:
                    status = 0
                if status in (200, 201):
                    break
                with lock:
                    resent.append(status)
                time.sleep(0.2)
            answered[key] = status
            time.sleep(0.2)

    readers = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    writers = [threading.Thread(target=write, args=(i,)) for i in range(len(members))]
    for thread in readers + writers:
        thread.start()
    time.sleep(1.5)
    victim = cluster.procs["web0"]
    victim.kill(signal.SIGKILL)
    time.sleep(3)
    for thread in writers:
        thread.join(60)
    stop.set()
    for thread in readers:
        thread.join(60)
    # Last in the module: the cluster goes on with one web process until the fixture stops it.
    assert not victim.alive()
    assert gets and Counter(gets) == {200: len(gets)}, Counter(gets)
    assert len(answered) == 8 * len(members)
    assert set(answered.values()) <= {200, 201}, answered
    # Each key was charged exactly once, whichever process first took it.
    assert Redemption.objects.filter(reward=reward).count() == len(answered)
    assert set(Redemption.objects.values_list("idempotency_key", flat=True)) == set(answered)
    balances = PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True)
    assert sum(balances) == 4 * 1000 - 10 * len(answered)
    assert reconcile() == []
    # Both processes took requests of the load before one was killed.
    log = cluster.access_log()
    served = {entry["upstream"].split(",")[0].strip() for entry in log}
    assert {f"127.0.0.1:{port}" for port in cluster.web_ports} <= served
    passed_on = sum("," in entry["upstream"] for entry in log)
    print(
        f"\n{len(gets)} GETs, all 200; {passed_on} passed on to the other process by the "
        f"proxy; {len(answered)} redemptions, {len(resent)} POSTs sent again by the client"
    )
