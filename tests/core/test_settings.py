"""Settings refuse unsafe or unusable configurations; production settings pass check --deploy."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys

from tests.conftest import BASE_DIR


def run_django(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()}
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_refuses_to_start_without_database_url():
    result = run_django({"DATABASE_URL": None}, "check")
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_refuses_sqlite_instead_of_postgresql():
    result = run_django({"DATABASE_URL": "sqlite:///club.sqlite3"}, "check")
    assert result.returncode != 0
    assert "must point at PostgreSQL" in result.stderr
    assert not (BASE_DIR / "club.sqlite3").exists()


def test_refuses_to_start_without_redis_url():
    result = run_django({"REDIS_URL": None}, "check")
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr


def test_production_requires_a_secret_key():
    result = run_django({"DEBUG": "false", "SECRET_KEY": None}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_with_debug_off():
    result = run_django(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SITE_URL": "https://club.example.com",
            "ALLOWED_HOSTS": "club.example.com",
            "AUDIT_KEYS": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        },
        "check", "--deploy", "--fail-level", "WARNING",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_the_audit_chain_has_no_key_of_its_own():
    production = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SITE_URL": "https://club.example.com",
        "ALLOWED_HOSTS": "club.example.com",
    }
    unset = run_django({**production, "AUDIT_KEYS": None}, "check", "--deploy")
    assert "core.W001" in unset.stdout + unset.stderr
    unknown = run_django(
        {**production, "AUDIT_KEYS": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
         "AUDIT_KEY_ID": "k2"},
        "check", "--deploy",
    )  # fmt: skip
    assert unknown.returncode != 0
    assert "core.E001" in unknown.stderr and "AUDIT_KEY_ID 'k2'" in unknown.stderr


def test_production_cookies_are_secure_and_http_only():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
    )
    env = dict(
        os.environ,
        DEBUG="false",
        SITE_URL="https://club.example.com",
        SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.stdout.split() == ["True", "True", "Lax", "True", "True", "True"], result.stderr


def test_transaction_pooling_turns_off_server_side_cursors():
    """Behind PgBouncer in transaction mode a cursor WITH HOLD (``.iterator()``) would be looked
    for on another server connection by its next fetch."""
    show = [
        "shell",
        "-c",
        "from django.conf import settings; "
        "print(settings.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS', False))",
    ]
    pooled = run_django({"DATABASE_POOLER": "transaction"}, *show)
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip().splitlines()[-1] == "True"
    direct = run_django({"DATABASE_POOLER": None}, *show)
    assert direct.stdout.strip().splitlines()[-1] == "False"
    unknown = run_django({"DATABASE_POOLER": "statement"}, "check")
    assert unknown.returncode != 0
    assert "DATABASE_POOLER must be" in unknown.stderr
