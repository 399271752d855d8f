"""One URL for ``bench.bare_settings``: the site's own robots.txt view, so only the middleware
differs between the bare server and the real one."""

from django.urls import path

from core.views import robots_txt

urlpatterns = [path("robots.txt", robots_txt)]
