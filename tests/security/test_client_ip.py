"""The client's address comes from our own proxies only; a forged X-Forwarded-For changes nothing.

The address keys rate limits, goes into audit entries, is posted to Weibo as ``rip`` with a
share and tells landing-page visitors apart (``core/clientip.py``). The site runs as in
production behind a TLS proxy (``BEHIND_TLS_PROXY``), where the old code took the first
X-Forwarded-For entry, whoever had written it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone

from community import demo
from community.models import GatedPage
from config.launcher import free_port, web_server_argv
from core.clientip import client_ip
from core.models import AuditEntry
from members.models import Consent, Member
from members.selectors import current_consent_text
from members.weibo.views import LOGIN_LIMIT_PER_MINUTE
from share import services
from share.models import Share, ShareVisit
from tests.conftest import BASE_DIR, database_url_for_current_test_db
from tests.factories import MemberFactory, StaffFactory, standard_tiers
from tests.share.conftest import Sandbox, make_sharer, register

pytestmark = pytest.mark.django_db

CLIENT = "203.0.113.9"  # the address the connection really comes from


@pytest.fixture(autouse=True)
def behind_tls_proxy(settings):
    """Production's proxy settings, with no proxy trusted for addresses (the default)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = []
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def sandbox(weibo_sandbox) -> Sandbox:
    return Sandbox(weibo_sandbox)


@pytest.fixture
def club(db) -> dict:
    """Tiers and the demo items, as tests/share has them."""
    tiers = standard_tiers()
    demo.load()
    return {"tiers": tiers, "pages": {page.slug: page.specific for page in GatedPage.objects.all()}}


@pytest.fixture(autouse=True)
def limits_forgotten_afterwards():
    yield
    redis = cache._cache.get_client(write=True)
    for pattern in ("*ratelimit:*", "*allauth:rl:*"):
        for key in redis.scan_iter(match=f"{settings.REDIS_PREFIX}:{pattern}"):
            redis.delete(key)


def ip_of(remote: str | None, forwarded: str | None = None) -> str | None:
    meta = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", **meta)
    if remote is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote
    return client_ip(request)


# --- A forged header from a client nobody trusts -------------------------------------------------


def test_a_forged_header_does_not_escape_the_login_rate_limit(client):
    for attempt in range(2 * LOGIN_LIMIT_PER_MINUTE + 2):
        response = client.post("/accounts/weibo/login/", REMOTE_ADDR=CLIENT,
                               HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt % 250}")  # fmt: skip
        if response.status_code == 429:
            break
    else:
        raise AssertionError("a new forged address each time escaped the limit")
    assert attempt >= LOGIN_LIMIT_PER_MINUTE
    # Another real address is not affected, whatever it claims to be.
    other = client.post("/accounts/weibo/login/", REMOTE_ADDR="203.0.113.10",
                        HTTP_X_FORWARDED_FOR=CLIENT)  # fmt: skip
    assert other.status_code == 302


def suspend_as_staff(browser: Client) -> AuditEntry:
    """A staff action in the admin; returns the audit entry it wrote."""
    member = MemberFactory()
    browser.force_login(StaffFactory())
    response = browser.post(f"/admin/members/{member.pk}/suspend/", {"suspend-reason": "违规"})
    assert response.status_code == 302
    return AuditEntry.objects.get(action="member.suspended", target_id=str(member.pk))


def test_the_audit_entry_records_the_real_address():
    browser = Client(REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR="10.9.8.7")
    assert suspend_as_staff(browser).ip == CLIENT


def test_a_header_that_is_no_address_is_ignored_and_the_audit_still_written():
    browser = Client(REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR="<script>, not-an-ip")
    assert suspend_as_staff(browser).ip == CLIENT


def _share_through_the_site(sandbox, club, browser: Client) -> dict:
    """Confirm a share on the confirmation page, post it, and return what Weibo received."""
    member = make_sharer(sandbox, uid="1001000012", tier=club["tiers"]["gold"])
    Consent.objects.get_or_create(member=member, text=current_consent_text())
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    browser.force_login(member.user)
    page = browser.get(f"/share/new/?kind=item&ref={trip.pk}")
    assert page.status_code == 200, (page.status_code, page.get("Location"))
    html = page.content.decode()
    key = re.search(r'name="confirmation_key" value="([0-9a-f]+)"', html).group(1)
    text = re.search(r'<textarea id="share-text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    response = browser.post("/share/new/", {
        "kind": "item", "ref": trip.pk, "text": text, "confirmation_key": key,
    })  # fmt: skip
    assert response.status_code == 302
    share = Share.objects.get(member=member)
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    (post,) = sandbox.posts(uid="1001000012")
    return post


def test_weibo_receives_the_real_address_as_rip(sandbox, club):
    browser = Client(REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert _share_through_the_site(sandbox, club, browser)["rip"] == CLIENT


def test_landing_visitors_are_not_multiplied_by_forged_headers(sandbox, club):
    item = club["pages"]["milan-trip"]
    share = Share.objects.create(
        member=make_sharer(sandbox, uid="1001000013"), kind=Share.Kind.ITEM, item=item,
        subject_key=f"item:{item.pk}", subject_title=item.title, text="看看", token="tok123",
        link=f"{settings.SITE_URL}/s/tok123/", rip=CLIENT, state=Share.State.SENT,
        show_name=True, sent_at=timezone.now(),
    )  # fmt: skip
    for n in range(5):  # one phone without cookies, claiming another address each time
        Client(HTTP_USER_AGENT="phone", REMOTE_ADDR=CLIENT,
               HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").get("/s/tok123/")  # fmt: skip
    services.share_visits_flush()
    assert ShareVisit.objects.filter(share=share).count() == 1


# --- Through our own proxies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # Nobody trusted: REMOTE_ADDR, whatever the header says.
        ("10.0.0.2", "198.51.100.1", "10.0.0.2"),
    ],
)
def test_nobody_is_trusted_by_default(remote, forwarded, expected):
    assert ip_of(remote, forwarded) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # One proxy of ours in front: the entry it appended is the client.
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        # The client's own forged entries stand left of it and are never reached.
        ("10.0.0.2", "1.1.1.1, 8.8.8.8, 203.0.113.5", "203.0.113.5"),
        # Two proxies of ours (a CDN node inside the network, then nginx).
        ("10.0.0.2", "1.1.1.1, 203.0.113.5, 10.20.30.40", "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5,10.20.30.40", "203.0.113.5"),
        # IPv6 networks, and entries with ports and brackets.
        ("10.0.0.2", "1.1.1.1, [2001:db8::7]:4711, 2001:db8:1::1", "2001:db8::7"),
        ("10.0.0.2", "203.0.113.5:5678", "203.0.113.5"),
        # A client connecting directly (not through a proxy) cannot claim anything.
        ("198.51.100.20", "203.0.113.5", "198.51.100.20"),
        # Garbage stops the walk at the last proxy of ours: nothing the client wrote is used.
        ("10.0.0.2", "203.0.113.5, not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.5, \x00, 10.0.0.3", "10.0.0.3"),
        ("10.0.0.2", "", "10.0.0.2"),
        # Every hop is ours (a health check from inside): the farthest one.
        ("10.0.0.2", "10.0.0.9", "10.0.0.9"),
        # A dual-stack socket reports IPv4 peers as mapped IPv6 addresses.
        ("::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),
        # No valid REMOTE_ADDR from the server at all.
        (None, "203.0.113.5", None),
        ("bogus", "203.0.113.5", None),
    ],
)
def test_trusted_networks_are_skipped_from_the_right(settings, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8:1::/48"]
    assert ip_of(remote, forwarded) == expected


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "1.1.1.1, 203.0.113.5", "203.0.113.5"),
        (2, "1.1.1.1, 203.0.113.5, 172.16.0.9", "203.0.113.5"),
        (2, "203.0.113.5, 172.16.0.9", "203.0.113.5"),
        # Fewer entries than proxies: the farthest hop a proxy of ours wrote.
        (2, "172.16.0.9", "172.16.0.9"),
        (1, None, "10.0.0.2"),
        (2, "1.1.1.1, garbage, 172.16.0.9", "172.16.0.9"),
    ],
)
def test_a_count_of_proxies_takes_that_many_hops_from_the_right(settings, count, forwarded,
                                                                 expected):  # fmt: skip
    settings.TRUSTED_PROXY_COUNT = count
    assert ip_of("10.0.0.2", forwarded) == expected


def test_through_trusted_proxies_the_rate_limit_keys_on_each_client(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for attempt in range(LOGIN_LIMIT_PER_MINUTE + 5):  # each from another client: none limited
        response = client.post("/accounts/weibo/login/", REMOTE_ADDR="10.0.0.2",
                               HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")  # fmt: skip
        assert response.status_code == 302
    # One client behind the proxy, claiming other addresses left of it, is still one client.
    for attempt in range(2 * LOGIN_LIMIT_PER_MINUTE + 2):
        response = client.post("/accounts/weibo/login/", REMOTE_ADDR="10.0.0.2",
                               HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, {CLIENT}")  # fmt: skip
        if response.status_code == 429:
            break
    else:
        raise AssertionError("the client behind the proxy was never limited")


def test_through_a_proxy_chain_weibo_receives_the_clients_address(sandbox, club, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    browser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}, 10.1.1.1")
    assert _share_through_the_site(sandbox, club, browser)["rip"] == CLIENT


def test_staff_login_failures_behind_our_proxy_count_per_client(settings):
    """allauth's limit on failed staff logins (10 a minute per address) keys on the same
    address: one client's failures lock that client out, not every staff member behind the
    proxy."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    staff = StaffFactory(username="real-staffer")
    staff.set_password("a-long-password-1")
    staff.save()

    def login(client_address: str, username: str, password: str):
        browser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_address)
        response = browser.post("/accounts/login/", {"login": username, "password": password})
        return response, "_auth_user_id" in browser.session

    for attempt in range(10):
        login("203.0.113.7", f"guess{attempt}", "wrong-password")
    response, signed_in = login("203.0.113.7", "real-staffer", "a-long-password-1")
    assert not signed_in and "登录失败次数过多" in response.content.decode()
    _response, signed_in = login("203.0.113.8", "real-staffer", "a-long-password-1")
    assert signed_in


# --- Settings ------------------------------------------------------------------------------------


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, DEBUG="false", DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         "print(settings.TRUSTED_PROXIES, settings.TRUSTED_PROXY_COUNT)"],
        cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [
        {"TRUSTED_PROXIES": "*"},
        {"TRUSTED_PROXIES": "0.0.0.0/0"},
        {"TRUSTED_PROXIES": "10.0.0.0/8, ::/0"},
        {"TRUSTED_PROXIES": "10.0.0.0/8, nginx.internal"},
        {"TRUSTED_PROXIES": "10.0.0.1", "TRUSTED_PROXY_COUNT": "1"},
    ],
)
def test_a_proxy_list_that_trusts_everyone_or_is_not_one_stops_start_up(env):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: TRUSTED_PROX" in result.stderr, result.stderr[-2000:]


def test_the_proxy_list_is_read_from_the_environment():
    result = load_settings(TRUSTED_PROXIES="10.0.0.0/8, 2001:db8::1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['10.0.0.0/8', '2001:db8::1'] 0"


# --- The real web server -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_web_server_does_not_take_the_address_from_a_forged_header(tmp_path):
    """uvicorn as the Procfile starts it: a client sending a new X-Forwarded-For with every
    request is still one address, and hits the login limit."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(), DEBUG="false",
               ALLOWED_HOSTS="127.0.0.1", SITE_URL=f"http://127.0.0.1:{port}",
               BEHIND_TLS_PROXY="true", SECURE_SSL_REDIRECT="false")  # fmt: skip
    for name in ("TRUSTED_PROXIES", "TRUSTED_PROXY_COUNT", "FORWARDED_ALLOW_IPS"):
        env.pop(name, None)
    log_path = tmp_path / "server.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            web_server_argv(host="127.0.0.1", port=port, workers=1),
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/robots.txt", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        statuses = []
        for attempt in range(2 * LOGIN_LIMIT_PER_MINUTE + 2):
            response = requests.get(
                f"{base}/accounts/weibo/login/callback/",
                params={"code": f"guess{attempt}", "state": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
                allow_redirects=False, timeout=10,
            )  # fmt: skip
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[-1] == 429, statuses
        # Every request counted against one client (earlier tests' hits from this address may
        # still be in the sliding window, so the limit can come sooner, never later).
        assert len(statuses) <= LOGIN_LIMIT_PER_MINUTE + 1
        assert not Member.objects.exists()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
