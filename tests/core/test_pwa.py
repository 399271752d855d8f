"""The installable web app: manifest, service worker rules and the offline page."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
from PIL import Image

from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db


def test_the_manifest_opens_the_app_on_the_membership_card(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == settings.WAGTAIL_SITE_NAME and manifest["short_name"]
    assert manifest["start_url"] == "/members/card/"
    assert manifest["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])
    sizes = {}
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png" and icon["src"].startswith(settings.STATIC_URL)
        with (
            staticfiles_storage.open(icon["src"].removeprefix(settings.STATIC_URL)) as file,
            Image.open(file) as image,
        ):
            assert f"{image.width}x{image.height}" == icon["sizes"]
        sizes[icon["sizes"]] = icon["src"]
    assert {"192x192", "512x512"} <= set(sizes)


def test_every_page_links_the_manifest_and_installs_the_worker(client):
    page = client.get("/members/login/").content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in page
    assert static("js/pwa.js") in page and '<meta name="theme-color"' in page


def service_worker(client) -> str:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "no-cache" in response["Cache-Control"]
    return response.content.decode()


def test_the_worker_keeps_only_the_offline_page_and_static_files(client):
    script = service_worker(client)
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", script).group(1))
    assert "/offline/" in precache
    for url in precache:
        assert url == "/offline/" or url.startswith(settings.STATIC_URL), url
    assert json.loads(re.search(r"const STATIC_PREFIX = (\".*?\");", script).group(1)) == (
        settings.STATIC_URL
    )
    # Its rules: two places store anything: the precache at install, and static files.
    assert script.count("cache.put(") == 2
    navigate = script[script.index('request.mode === "navigate"') :]
    navigate = navigate[: navigate.index("return;")]
    assert "cache.put" not in navigate and "caches.match(OFFLINE_URL)" in navigate
    static = script[script.index("if (isStatic(url))") :]
    assert "cache.put(request, copy)" in static
    assert 'credentials: "omit"' in script  # precached without the visitor's cookies
    # Nothing members see is named in it.
    for private in ("/members/", "/points/", "/community/", "/notifications/", "/share/"):
        assert private not in script


def test_the_offline_page_is_translated_and_names_nobody(client):
    standard_tiers()
    member = MemberFactory(display_name="王先生的昵称")
    client.force_login(member.user)
    page = client.get("/offline/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "网络未连接" in html and 'lang="zh-CN"' in html
    assert "王先生的昵称" not in html and "csrfmiddlewaretoken" not in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert 'lang="en"' in client.get("/offline/").content.decode()
