"""Browser tests: headless Debian Chromium driven by Playwright, against a real ASGI server.

The server is uvicorn running ``config.asgi`` (HTTP and websockets) on the test database, as in
production. Screenshots of failing tests are kept under ``test-results/``.

The browser also reaches the server as ``http://testserver`` (``SITE``): Chromium resolves that
name to the server's port. It is the address the Weibo sandbox has registered as the app's
callback and safe domain, so journeys through the real Weibo login and share links use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from config.launcher import free_port, wait_for_port
from tests.conftest import BASE_DIR, database_url_for_current_test_db

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RESULTS = BASE_DIR / "test-results"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The site as the browser reaches it in Weibo journeys (see the module docstring).
SITE = "http://testserver"


def pytest_collection_modifyitems(config, items):
    browser_items = [item for item in items if "tests/browser" in str(item.fspath)]
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason="Chromium is not installed")
        for item in browser_items:
            item.add_marker(skip)
    # Browser journeys run last: they are the slowest and need the whole stack.
    items[:] = [item for item in items if item not in browser_items] + browser_items


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn serving the site on the test database; yields its base URL."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("asgi") / "uvicorn.log", "ab")  # noqa: SIM115
    env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(),
               DATABASE_CONN_MAX_AGE="0", ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
               SITE_URL=SITE, STAFF_REQUIRE_MFA="false")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.browser.conftest:server_application",
         "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log", "--no-proxy-headers"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert wait_for_port(port, 30), "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(20)
    log.close()


async def server_application(scope, receive, send):
    """What ``asgi_server`` serves: ``config.asgi``'s application, which first forgets the
    content types it has cached.

    Transactional tests empty the database after each test, and the content types come back
    with new ids; this server outlives them, and Django keeps content types in a per-process
    cache, so with stale ids Wagtail could no longer create pages after the first test. A
    fresh process would read them from the database; so does each request here.
    """
    from django.apps import apps

    from config.asgi import application  # sets Django up on first use

    apps.get_model("contenttypes", "ContentType").objects.clear_cache()
    await application(scope, receive, send)


@pytest.fixture(scope="module")
def browser(asgi_server):
    """One Chromium per module. Playwright's sync API runs an event loop in the test thread
    while open; Django's ORM is still used synchronously in these tests, which is safe here,
    and the loop is gone before other modules (whose async_to_sync needs a loop-free thread)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(sync_playwright, asgi_server)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(sync_playwright, server: str, extra_args: tuple[str, ...] = ()):
    site_host = urlsplit(SITE).hostname
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync",
                  f"--host-resolver-rules=MAP {site_host} {urlsplit(server).netloc}",
                  *extra_args],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser, asgi_server, request):
    """``page_for(user, viewport=PHONE)`` → a Playwright page signed in as ``user`` (an
    outsider's when ``user`` is None); other keywords go to the browser context."""
    contexts = []

    def make(user=None, viewport=PHONE, locale="zh-CN", **options):
        context = browser.new_context(viewport=viewport, locale=locale, **options)
        if user is not None:
            from django.test import Client

            client = Client()
            client.force_login(user)
            session = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies([
                {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": url}
                for url in (asgi_server, SITE)
            ])  # fmt: skip
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    for index, context in enumerate(contexts):
        if failed is not None and failed.failed:
            RESULTS.mkdir(exist_ok=True)
            for number, page in enumerate(context.pages):
                page.screenshot(path=str(RESULTS / f"{request.node.name}-{index}-{number}.png"))
        context.close()
    wait_for_idle_database()


def wait_for_idle_database(timeout: float = 10) -> None:
    """Let requests still running in the server finish before the test's tables are emptied.

    A page closed mid-request leaves its request running in the server; emptying the tables
    (TRUNCATE) while it holds row locks can deadlock with it.
    """
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "AND state <> 'idle'"
                )
                busy = cursor.fetchone()[0]
        except RuntimeError:  # a test without database access: nothing to empty
            return
        if busy == 0:
            return
        time.sleep(0.05)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def wait_for_text(page, selector: str, text: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(selector).first.text_content() == text:
            return True
        time.sleep(0.1)
    return False


def run_in_another_process(code: str) -> None:
    """Run Python in a separate Django process on the test database (as a worker would)."""
    env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db())
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


# --- Journey helpers ------------------------------------------------------------------------


def run_off_the_event_loop(function, /, **kwargs):
    """Run ``function`` in a plain thread and return its result.

    While Playwright is open, its event loop runs in the test thread, where the
    ``async_to_sync`` behind real-time events (published after commit) refuses to run. Set-up
    whose services publish events runs here instead; its database connection is closed after.
    """
    from django.db import connections

    def call():
        try:
            return function(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def load_club(*, loyalty: bool = False) -> None:
    """The demo club: tiers, staff login, a member at every tier, invitation codes, the
    community pages (with comments, one held for moderation) and, when asked, the demo points
    programme. Transactional tests start from an empty database, so each journey loads it."""
    run_off_the_event_loop(_load_club, loyalty=loyalty)


def _load_club(*, loyalty: bool) -> None:
    from wagtail.models import Collection

    from community import demo as community_demo
    from members import demo as members_demo

    if Collection.get_first_root_node() is None:  # flushed with the rest of the database
        Collection.add_root(name="Root")
    members_demo.load()
    if loyalty:
        from loyalty import demo as loyalty_demo

        loyalty_demo.load()
    community_demo.load()


def open_live(page, url: str) -> None:
    """Open ``url`` and return once the page's live socket is connected: the page script asks
    for missed notifications right after the socket opens (the server joins the member's
    groups before accepting), so that answer marks the moment events can arrive."""
    with page.expect_response(lambda response: "/notifications/api/" in response.url):
        page.goto(url)


def authorize_at_weibo(page, *, uid: str) -> None:
    """On the Weibo sandbox's authorize page, pick the Weibo user and press 授权 (allow)."""
    page.wait_for_url(f"{settings.WEIBO_API_BASE}/oauth2/authorize**")
    page.locator(f"#uid-{uid}").check()
    page.locator("button[value=allow]").click()


def staff_login(page, *, username: str, password: str) -> None:
    """The staff password login of the admin (TOTP is off for the test server)."""
    page.goto(f"{SITE}/admin/")
    form = page.locator("form:has(input[name=password])")
    form.locator("input[name=login]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{SITE}/admin/**")


def switch_language(page, code: str) -> None:
    """Choose a language in the site header's switcher, as a visitor would."""
    with page.expect_navigation():
        page.locator(f"nav.language a[data-language='{code}']").click()


def waiting_list_and_draw() -> dict:
    """On top of the demo club: a sold-out offer with 普通会员赵同学 on its waiting list, a full
    activity and an offer allocated by a draw that two members entered; their ids, by name."""
    return run_off_the_event_loop(_waiting_list_and_draw)


def _waiting_list_and_draw() -> dict:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from community.models import ActivityPage, OfferPage
    from community.participation import services
    from members.demo import DEMO_STAFF_USERNAME
    from members.models import Member
    from tests.community.test_claims import make_offer
    from tests.community.test_registrations import make_activity

    platinum, silver, regular = (
        Member.objects.get(weibo_uid=uid) for uid in ("1001000011", "1001000013", "1001000014")
    )
    offer_cover = OfferPage.objects.get(slug="silver-coupon").cover_image
    activity_cover = ActivityPage.objects.get(slug="shanghai-tasting").cover_image
    scarf = make_offer(
        codes=["SCARF-0001"], slug="limited-scarf", title="限量丝巾：会员专享",
        summary="限量一条，领完可加入候补名单。", cover_image=offer_cover,
        body=[("paragraph", "<p>2026 早春限定真丝丝巾，全球限量。领完后可加入候补名单，"
                            "有人放弃时按顺序为您保留。</p>")],
    )  # fmt: skip
    services.offer_claim(offer=scarf, member=platinum, idempotency_key="limited-scarf-platinum")
    services.offer_waitlist_join(offer=scarf, member=regular)

    tea = make_activity(
        capacity=1, slug="tea-ceremony", title="茶道雅集：小班体验",
        summary="一席一人，满员后可加入候补名单。", cover_image=activity_cover,
        body=[("paragraph", "<p>茶艺师带领的小班体验，一席一人。</p>")],
    )  # fmt: skip
    services.activity_register(activity=tea, member=platinum)

    tickets = make_offer(
        codes=["RUNWAY-0001", "RUNWAY-0002"], slug="runway-tickets", title="秀场门票抽签",
        summary="两张秀场门票，抽签分配。", cover_image=offer_cover,
        body=[("paragraph", "<p>春夏大秀的两张前排门票。报名期内参加抽签，开奖后公布种子，"
                            "人人可以核验结果。</p>")],
    )  # fmt: skip
    now = timezone.now()
    services.allocation_configure(
        item=tickets, actor=get_user_model().objects.get(username=DEMO_STAFF_USERNAME),
        mode="draw", hold_hours=24, entries_open_at=now - timedelta(hours=1),
        entries_close_at=now + timedelta(days=2),
    )  # fmt: skip
    for member in (platinum, silver):
        services.draw_enter(item=tickets, member=member)
    return {"offer": scarf.pk, "activity": tea.pk, "draw": tickets.pk, "ahead": regular.pk,
            "registered": platinum.pk}  # fmt: skip
