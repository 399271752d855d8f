"""Member pages under /members/me/partners/: linked partners, linking by code, unlinking."""

from django.urls import path

from partners import views

app_name = "partners"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("link/", views.link, name="link"),
    path("<int:link_id>/unlink/", views.unlink, name="unlink"),
]
