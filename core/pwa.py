"""The site as an installable web app: the manifest, the service worker and its offline page.

**What the service worker may keep:** the offline page and static assets (CSS, scripts,
icons), nothing else. Pages are always fetched from the network and never stored, so gated
content, the membership card and its check-in code never sit in a cache a later visitor of
the phone, or an expired session, could read. ``PRECACHE`` lists what is kept at install (the
tests check every entry is the offline page or a static file); at run time only ``GET``
requests under ``STATIC_URL`` are added. The offline page itself is rendered without any
viewer (no session, no name), and the worker fetches it without cookies.

The manifest's ``start_url`` is the membership card: installed on a phone, the app opens on
the pass a member shows at the door.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

THEME_COLOUR = "#b8860b"  # the club's gold: the icons' background and the browser bar
BACKGROUND_COLOUR = "#faf8f5"
ICON_SIZES = (192, 512)
STATIC_ASSETS = ("css/site.css", "css/card.css", *(f"icons/icon-{size}.png" for size in ICON_SIZES))


def precache() -> list[str]:
    """What the service worker keeps when installed: the offline page and static assets."""
    return [reverse("offline"), *(static(path) for path in STATIC_ASSETS)]


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": settings.WAGTAIL_SITE_NAME,
        "short_name": settings.WAGTAIL_SITE_NAME,
        "description": _("会员卡、社区活动与积分"),
        "lang": request.LANGUAGE_CODE,
        "start_url": reverse("members:card"),
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": static(f"icons/icon-{size}.png"), "sizes": f"{size}x{size}",
             "type": "image/png", "purpose": "any maskable"}
            for size in ICON_SIZES
        ],
    }  # fmt: skip
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False), content_type="application/manifest+json"
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    urls = precache()
    version = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:12]
    response = render(
        request,
        "core/sw.js",
        {"precache_json": json.dumps(urls), "version": version,
         "offline_url": json.dumps(reverse("offline")),
         "static_prefix": json.dumps(settings.STATIC_URL)},
        content_type="application/javascript; charset=utf-8",
    )  # fmt: skip
    # Browsers check for a new worker on navigation; never let a cache hold an old one back.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """Shown by the service worker when a page cannot be fetched. Names no viewer."""
    response = render(request, "core/offline.html")
    response["Cache-Control"] = "public, max-age=0"
    return response
