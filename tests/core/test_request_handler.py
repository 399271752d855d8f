"""The handler the servers run (``config.handlers``): Django's, with hosts checked once."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import DisallowedHost

from config.handlers import ClubRequest, ClubWSGIHandler

pytestmark = pytest.mark.django_db


def environ(host: str, path: str = "/robots.txt") -> dict:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": host,
        "SERVER_PORT": "80", "HTTP_HOST": host, "REMOTE_ADDR": "203.0.113.9",
        "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1",
    }  # fmt: skip


def serve(host: str) -> tuple[str, bytes]:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status

    body = b"".join(ClubWSGIHandler()(environ(host), start_response))
    return seen["status"], body


def test_the_servers_answer_an_allowed_host_and_refuse_another(settings):
    settings.ALLOWED_HOSTS = ["club.example.com"]
    status, body = serve("club.example.com")
    assert status.startswith("200") and b"Disallow: /members/" in body
    assert serve("evil.example.net")[0].startswith("400")


def test_a_refused_host_is_refused_on_every_ask(settings):
    settings.ALLOWED_HOSTS = ["club.example.com"]
    request = ClubRequest(environ("evil.example.net"))
    for _ in range(2):
        with pytest.raises(DisallowedHost):
            request.get_host()
    good = ClubRequest(environ("club.example.com"))
    assert good.get_host() == good.get_host() == "club.example.com"


def test_the_asgi_and_wsgi_entry_points_use_it():
    from config import asgi, wsgi

    assert type(asgi.django_wsgi_app) is ClubWSGIHandler
    assert type(wsgi.application) is ClubWSGIHandler
