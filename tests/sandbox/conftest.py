"""One sandbox server for the whole suite, reset before each test that uses it.

The sandbox is configured like the project's Weibo app: two registered callbacks on ``club.test``,
the same safe domain, and an hourly share cap of 3 so the cap is cheap to reach.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from weibo_sandbox.server import SandboxConfig, SandboxServer, start_in_thread

APP_KEY = "3712345678"
APP_SECRET = "sandbox-test-secret"
CALLBACK = "http://club.test:8000/accounts/weibo/login/callback/"
OTHER_CALLBACK = "https://club.test/other/callback/"
SAFE_DOMAIN = "club.test"
APP_NAME = "测试俱乐部"
LINK = "http://club.test:8000/p/42/"
RIP = "203.0.113.7"
HOURLY_LIMIT = 3


def sandbox_config(**overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "redirect_uris": [CALLBACK, OTHER_CALLBACK],
        "safe_domain": SAFE_DOMAIN,
        "share_hourly_limit": HOURLY_LIMIT,
        "app_name": APP_NAME,
    }
    values.update(overrides)
    return SandboxConfig(**values)


def jpeg_bytes(colour: tuple[int, int, int] = (200, 30, 60), size: int = 64) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Sandbox:
    """A running sandbox and the moves tests make against it."""

    server: SandboxServer
    base: str

    def url(self, path: str) -> str:
        return self.base + path

    def authorize(
        self,
        uid: str | None,
        *,
        action: str = "allow",
        redirect_uri: str = CALLBACK,
        state: str = "st-123",
        **extra: str,
    ) -> requests.Response:
        data = {"client_id": APP_KEY, "redirect_uri": redirect_uri, "state": state, "scope": ""}
        data.update(extra, action=action)
        if uid is not None:
            data["uid"] = uid
        return requests.post(self.url("/oauth2/authorize"), data=data, allow_redirects=False)

    def code_for(self, uid: str, *, redirect_uri: str = CALLBACK, **extra: str) -> str:
        response = self.authorize(uid, redirect_uri=redirect_uri, **extra)
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]

    def exchange(
        self, auth_code: str, *, redirect_uri: str = CALLBACK, **overrides: str
    ) -> requests.Response:
        data = {
            "client_id": APP_KEY,
            "client_secret": APP_SECRET,
            "grant_type": "authorization_code",
            "code": auth_code,
            "redirect_uri": redirect_uri,
        }
        data.update(overrides)
        return requests.post(self.url("/oauth2/access_token"), data=data)

    def token_for(self, uid: str) -> str:
        response = self.exchange(self.code_for(uid))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def show(self, token: str, **params: str) -> requests.Response:
        return requests.get(
            self.url("/2/users/show.json"), params={"access_token": token, **params}
        )

    def share(
        self,
        token: str | None,
        status: str | None = None,
        *,
        rip: str | None = RIP,
        pic: bytes | None = None,
        filename: str = "card.jpg",
    ) -> requests.Response:
        data = {}
        if token is not None:
            data["access_token"] = token
        if status is not None:
            data["status"] = status
        if rip is not None:
            data["rip"] = rip
        files = {"pic": (filename, pic, "image/jpeg")} if pic is not None else None
        return requests.post(self.url("/2/statuses/share.json"), data=data, files=files)

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(method, self.url("/_sandbox" + path), json=payload)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    data_dir = tmp_path_factory.mktemp("weibo-sandbox")
    server, base = start_in_thread(sandbox_config(data_dir=str(data_dir)))
    yield Sandbox(server, base)
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    sandbox_server.control("POST", "/reset")
    return sandbox_server


def radio_uids(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="uid" value="(\d+)"', html)
