"""With production settings the cookies a browser actually receives are locked down.

tests/core/test_settings.py already proves that ``check --deploy`` is clean for the plain
production environment and that the settings values are right. Here a separate Django process
with production settings (DEBUG off, SITE_URL https) answers real requests on the test database,
and the ``Set-Cookie`` headers are read as a browser would see them; and the deploy check is run
for the other common production shape, behind a TLS-terminating proxy.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import BASE_DIR, database_url_for_current_test_db

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "club.example.com"

# Runs in the production-configured process: a login page (CSRF cookie), then the start of a
# Weibo login (session cookie), over HTTPS; prints what the browser received.
CLIENT_SCRIPT = """
import json, sys, django
django.setup()
HOST = sys.argv[1]
from django.test import Client
client = Client(HTTP_HOST=HOST)
page = client.get("/members/login/", secure=True)
token = page.cookies["csrftoken"].value
start = client.post("/accounts/weibo/login/", {"csrfmiddlewaretoken": token}, secure=True,
                    HTTP_REFERER=f"https://{HOST}/members/login/")
plain = Client(HTTP_HOST=HOST).get("/members/login/")
cookies = {}
for response in (page, start):
    for name, morsel in response.cookies.items():
        cookies[name] = {key: morsel[key] for key in ("secure", "httponly", "samesite", "path")}
print(json.dumps({
    "statuses": [page.status_code, start.status_code],
    "cookies": cookies,
    "headers": {key: page.headers.get(key) for key in (
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
        "Referrer-Policy", "Cross-Origin-Opener-Policy")},
    "plain_http": [plain.status_code, plain.headers.get("Location")],
}))
"""


def production_env(**extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL=f"https://{HOST}",
        ALLOWED_HOSTS=HOST,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url_for_current_test_db(),
        DATABASE_CONN_MAX_AGE="0",
        AUDIT_KEYS=f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
    )
    env.pop("SESSION_COOKIE_SECURE", None)
    env.pop("CSRF_COOKIE_SECURE", None)
    env.update(extra)
    return env


def test_session_and_csrf_cookies_are_secure_httponly_and_lax():
    result = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, HOST], cwd=BASE_DIR, env=production_env(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["statuses"] == [200, 302]
    session, csrf = seen["cookies"]["sessionid"], seen["cookies"]["csrftoken"]
    assert session["secure"] is True and session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert csrf["httponly"] is True  # our pages read the token from the form, never from JS
    headers = seen["headers"]
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert seen["plain_http"] == [301, f"https://{HOST}/members/login/"]


def test_check_deploy_prints_no_warnings_behind_a_tls_proxy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=production_env(BEHIND_TLS_PROXY="true", USE_X_FORWARDED_HOST="true"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
