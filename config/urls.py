"""URL configuration. Wagtail's page tree is last: every other route wins over page slugs."""

import re

from django.urls import include, path, re_path
from django.views.i18n import set_language
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from community.serving import serve_page
from core import pwa
from core import views as core_views
from partners.api import api as partner_api

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("robots.txt", core_views.robots_txt, name="robots_txt"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("offline/", pwa.offline, name="offline"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/<str:code>/", core_views.language_switch, name="language_switch"),
    path("api/partner/v1/", partner_api.urls),
    path("members/me/partners/", include("partners.urls")),
    path("members/", include("members.urls")),
    path("points/", include("loyalty.urls")),
    path("notifications/", include("core.notification_urls")),
    path("", include("share.urls")),
    path("", include("community.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
]

# Wagtail's own routes, with its page-serving view behind a kept route (same pattern and name),
# still last so every route above wins over page slugs.
urlpatterns += [
    pattern
    for pattern in wagtail_urls.urlpatterns
    if getattr(pattern, "name", None) != "wagtail_serve"
] + [re_path(r"^((?:[\w\-]+/)*)$", serve_page, name="wagtail_serve")]


def _route_texts(patterns, base: str = ""):
    """Every route above as one text from the root (``path`` syntax or a regex, anchors off)."""
    for pattern in patterns:
        text = base + str(pattern.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
        if hasattr(pattern, "url_patterns"):
            yield from _route_texts(pattern.url_patterns, text)
        else:
            yield text


def _community_page_fast_path(patterns):
    """The community home and its items (``community/`` and ``community/<slug>/``), answered
    before the URL resolver walks every route above.

    Those are the pages members open all day, and reaching the page tree's pattern at the end
    costs some 0.15 ms of trying every other route first. Routes still win over page slugs:
    the first path segments the routes above use under ``community/`` are read from them and
    left to the normal order, so a route added later is never shadowed. Returns None (no fast
    path) when a route's first segment under ``community/`` is not a plain name.
    """
    reserved = set()
    for text in _route_texts(patterns):
        if not text.startswith("community/"):
            continue
        segment = text[len("community/") :].split("/", 1)[0]
        if not re.fullmatch(r"[\w\-]*", segment):
            return None
        reserved.add(segment)
    excluded = "|".join(sorted(re.escape(segment) for segment in reserved if segment))
    slug = rf"(?!(?:{excluded})/)[\w\-]+/" if excluded else r"[\w\-]+/"
    if "" in reserved:
        return None  # a route at community/ itself
    return re_path(rf"^(community/(?:{slug})?)$", serve_page, name="community_page")


_fast_path = _community_page_fast_path(urlpatterns)
if _fast_path is not None:
    urlpatterns.insert(0, _fast_path)
