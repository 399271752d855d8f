"""The photo part of the moderation queue in the Wagtail admin (imported by
``community/wagtail_hooks.py``; Wagtail loads hooks only at an app's top level)."""

from __future__ import annotations

from django.urls import include, path
from wagtail import hooks

from community.photos import admin_views as views

admin_urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:pk>/decide/", views.decide, name="decide"),
]


@hooks.register("register_admin_urls")
def register_photo_admin_urls():
    return [path("community/moderation/photos/", include((admin_urlpatterns, "photos_admin")))]
