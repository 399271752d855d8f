from django.urls import path

from core import notification_views as views

app_name = "notifications"

urlpatterns = [
    path("", views.centre, name="centre"),
    path("read/", views.mark_read, name="read"),
    path("preferences/", views.preferences, name="preferences"),
    path("api/", views.catch_up, name="api"),
]
