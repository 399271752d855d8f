"""Browser tests: headless Debian Chromium driven by Playwright, against a real ASGI server.

The server is uvicorn running ``config.asgi`` (HTTP and websockets) on the test database, as in
production. Screenshots of failing tests are kept under ``test-results/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from config.launcher import free_port, wait_for_port
from tests.conftest import BASE_DIR, database_url_for_current_test_db

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RESULTS = BASE_DIR / "test-results"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


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
               SITE_URL=f"http://127.0.0.1:{port}", STAFF_REQUIRE_MFA="false")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert wait_for_port(port, 30), "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module. Playwright's sync API runs an event loop in the test thread
    while open; Django's ORM is still used synchronously in these tests, which is safe here,
    and the loop is gone before other modules (whose async_to_sync needs a loop-free thread)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(sync_playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(sync_playwright):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser, asgi_server, request):
    """``page_for(user, viewport=PHONE)`` → a Playwright page signed in as ``user``."""
    contexts = []

    def make(user=None, viewport=PHONE, locale="zh-CN"):
        context = browser.new_context(viewport=viewport, locale=locale)
        if user is not None:
            from django.test import Client

            client = Client()
            client.force_login(user)
            context.add_cookies([{
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": asgi_server,
            }])  # fmt: skip
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
