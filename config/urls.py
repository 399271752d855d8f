"""URL configuration. Wagtail's page tree is last: every other route wins over page slugs."""

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
