"""Django's debug pages never reach another machine.

``./run`` turns DEBUG on for development. Its web server listens on the loopback interface only
(``config.launcher.web_server_argv``), and should DEBUG be on where others reach the site, a
client that is not on this machine gets the plain error pages: a technical 500 page lists local
variables (querysets of users among them) and settings, a technical 404 every URL pattern.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.http import Http404
from django.test import Client
from django.urls import path

from config import launcher
from config.urls import urlpatterns as site_urlpatterns
from tests.conftest import BASE_DIR, database_url_for_current_test_db

TECHNICAL = "DEBUG = True"
PLAIN_500 = "服务暂时不可用"
PLAIN_404 = "页面不存在"
REMOTE = "203.0.113.5"


def boom(request):
    raise RuntimeError("local variables of a failing view")


def missing(request):
    raise Http404("no such thing")


# The site's own routes plus two that fail on purpose (this module is the URLconf of its tests).
urlpatterns = [path("boom/", boom), path("missing/", missing), *site_urlpatterns]


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True
    settings.TRUSTED_PROXIES = []
    settings.TRUSTED_PROXY_COUNT = 0


def get(url: str, remote: str, **headers):
    return Client(REMOTE_ADDR=remote, raise_request_exception=False).get(url, **headers)


# --- The run command's server -------------------------------------------------------------------


@pytest.mark.parametrize("debug", ["true", "1", "on"])
def test_with_debug_on_the_server_listens_on_loopback_only(monkeypatch, debug):
    monkeypatch.setenv("DEBUG", debug)
    argv = launcher.web_server_argv(host="0.0.0.0", port=8000, workers=1)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"


def test_with_debug_off_the_server_listens_where_asked(monkeypatch):
    monkeypatch.setenv("DEBUG", "false")
    argv = launcher.web_server_argv(host="0.0.0.0", port=8000, workers=1)
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_the_server_takes_no_address_from_forwarded_headers(monkeypatch):
    monkeypatch.setenv("DEBUG", "false")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    argv = launcher.web_server_argv(host="0.0.0.0", port=8000, workers=1)
    assert "--no-proxy-headers" in argv
    assert "--proxy-headers" not in argv and "--forwarded-allow-ips" not in argv


# --- Debug pages by client -----------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_a_remote_client_gets_the_plain_500_page(debug_on):
    response = get("/boom/", REMOTE)
    assert response.status_code == 500
    html = response.content.decode()
    assert PLAIN_500 in html
    assert TECHNICAL not in html and "local variables of a failing view" not in html


@pytest.mark.urls(__name__)
def test_a_remote_client_gets_the_plain_404_page(debug_on, db):
    response = get("/missing/", REMOTE)
    assert response.status_code == 404
    html = response.content.decode()
    assert PLAIN_404 in html and TECHNICAL not in html and "boom/" not in html


@pytest.mark.urls(__name__)
def test_a_remote_client_cannot_claim_to_be_local(debug_on):
    response = get("/boom/", REMOTE, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert TECHNICAL not in response.content.decode()


@pytest.mark.urls(__name__)
def test_behind_a_local_proxy_the_remote_client_is_still_remote(debug_on, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = get("/boom/", "127.0.0.1", HTTP_X_FORWARDED_FOR=REMOTE)
    assert TECHNICAL not in response.content.decode()


@pytest.mark.urls(__name__)
def test_the_developer_on_this_machine_still_gets_the_debug_page(debug_on):
    response = get("/boom/", "127.0.0.1")
    assert response.status_code == 500 and TECHNICAL in response.content.decode()
    assert TECHNICAL in get("/missing/", "::1").content.decode()


@pytest.mark.django_db
def test_a_debug_settings_load_serves_no_debug_page_to_a_remote_client():
    """The settings module itself with DEBUG=true, in a process of its own."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "for remote in ('203.0.113.5', '127.0.0.1'):\n"
        "    page = Client(REMOTE_ADDR=remote).get('/s/not!a!token/')\n"
        "    print(remote, page.status_code, 'DEBUG = True' in page.content.decode())\n"
    )
    env = dict(os.environ, DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_URL=database_url_for_current_test_db())  # fmt: skip
    for name in ("TRUSTED_PROXIES", "TRUSTED_PROXY_COUNT"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-3:-1] == ["203.0.113.5 404 False", "127.0.0.1 404 True"]
