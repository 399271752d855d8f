"""The production web server under load: 100 concurrent clients for a minute.

The server runs exactly as the Procfile starts it (``config.launcher.web_server_argv``) on the
test database, with 2 worker processes. ``wrk`` holds 100 keep-alive connections loading the
community home as outsiders and the feed, an item page and the points page as a gold member.
The test asserts what an operator sees: no response is a server error (in fact every one is a
2xx), the database connections the server held never exceeded the configured bound
(``WEB_THREADS`` + 1 per process), and once it stops none is left behind.

The server labels its connections with ``PGAPPNAME`` so ``pg_stat_activity`` tells them apart
from everyone else's on the same PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client

from community import demo
from community.models import CommunityHome, PostPage
from config.launcher import free_port, web_server_argv
from tests.conftest import BASE_DIR, database_url_for_current_test_db
from tests.factories import MemberFactory, standard_tiers

pytestmark = [pytest.mark.slow, pytest.mark.load, pytest.mark.django_db(transaction=True)]

WORKERS = 2
THREADS = 4
CLIENTS = 100
SECONDS = 60
WRK = shutil.which("wrk")

# wrk cycles through the pages; the member pages carry the gold member's session cookie.
LUA = """
local pages = {%(pages)s}
local i = 0
request = function()
  i = i %% #pages + 1
  local page = pages[i]
  return wrk.format("GET", page[1], page[2] and {["Cookie"] = page[2]} or {})
end
"""


def connections_of(app_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
        )
        return cursor.fetchone()[0]


def seed_club() -> list[tuple[str, str | None]]:
    """A gold member, ten items and the pages wrk loads: (path, cookie or None)."""
    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    for index in range(10):
        gated = index % 2 == 0
        post = PostPage(
            title=f"文章 {index}", slug=f"load-{index}", summary=f"摘要 {index}",
            access="min_tier" if gated else "members", min_tier=tiers["gold"] if gated else None,
            body=[("paragraph", f"<p>开头 {index}</p>"), ("paywall", None),
                  ("paragraph", f"<p>会员内容 {index}</p>")],
        )  # fmt: skip
        home.add_child(instance=post)
        post.save_revision().publish()
    member = MemberFactory(tier=tiers["gold"])
    client = Client()
    client.force_login(member.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    item = PostPage.objects.get(slug="load-2").url
    pages = [("/community/", None), (item, None), ("/community/", cookie), (item, cookie),
             ("/points/", cookie), ("/robots.txt", None)]  # fmt: skip
    for path, page_cookie in pages:
        headers = {"Cookie": page_cookie} if page_cookie else {}
        assert client.get(path, headers=headers).status_code == 200, path
    return pages


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_hundred_clients_for_a_minute_get_no_errors_and_bounded_connections(tmp_path):
    pages = seed_club()
    script = tmp_path / "pages.lua"
    entries = ", ".join(f'{{"{path}", {f"[[{c}]]" if c else "nil"}}}' for path, c in pages)
    script.write_text(LUA % {"pages": entries}, encoding="utf-8")

    app_name = f"load-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(), PGAPPNAME=app_name,
               WEB_THREADS=str(THREADS), ALLOWED_HOSTS="127.0.0.1,localhost",
               SITE_URL=f"http://127.0.0.1:{port}", STAFF_REQUIRE_MFA="false")  # fmt: skip
    env.pop("DATABASE_CONN_MAX_AGE", None)  # the production default
    bound = WORKERS * (THREADS + 1)
    log_path = tmp_path / "server.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            web_server_argv(host="127.0.0.1", port=port, workers=WORKERS),
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    seen: list[int] = []
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/robots.txt", timeout=2).ok:
                    break
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        def watch() -> None:
            while not stop.is_set():
                seen.append(connections_of(app_name))
                stop.wait(0.5)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            output = subprocess.run(
                [WRK, "-t2", f"-c{CLIENTS}", f"-d{SECONDS}s", "--timeout", "30s", "-s",
                 str(script), f"http://127.0.0.1:{port}/"],
                capture_output=True, text=True, check=True, timeout=SECONDS + 60,
            ).stdout  # fmt: skip
            time.sleep(2)
            after_load = connections_of(app_name)
        finally:
            stop.set()
            watcher.join()
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)

    requests_done = int(re.search(r"(\d+) requests in", output).group(1))
    not_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: .*", output)
    print(f"\n{requests_done} requests; connections at most {max(seen)} (bound {bound}), "
          f"{after_load} after the load")  # fmt: skip
    assert requests_done > CLIENTS, output
    assert not_2xx is None, output + log_path.read_text()[-3000:]
    assert socket_errors is None, output
    assert b"Internal Server Error" not in log_path.read_bytes()
    assert 0 < max(seen) <= bound, seen
    assert after_load <= bound

    deadline = time.monotonic() + 10
    while connections_of(app_name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert connections_of(app_name) == 0
