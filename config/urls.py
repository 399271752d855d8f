"""URL configuration. Wagtail's page tree is last: every other route wins over page slugs."""

from django.urls import include, path
from django.views.i18n import set_language
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("robots.txt", core_views.robots_txt, name="robots_txt"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("members/", include("members.urls")),
    path("points/", include("loyalty.urls")),
    path("notifications/", include("core.notification_urls")),
    path("", include("share.urls")),
    path("", include("community.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
]

urlpatterns += [path("", include(wagtail_urls))]
