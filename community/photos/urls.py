"""Member-facing routes of photo walls (included in the ``community`` namespace)."""

from django.urls import path

from community.photos import views

urlpatterns = [
    path("community/activities/<int:pk>/photos/", views.wall, name="photo_wall"),
    path("community/activities/<int:pk>/photos/upload/", views.upload, name="photo_upload"),
    path("api/activities/<int:pk>/photos/", views.wall_api, name="photo_wall_api"),
    path("community/photos/<int:photo_id>/status/", views.status, name="photo_status"),
    path("community/photos/<int:photo_id>/<str:variant>.jpg", views.picture, name="photo_file"),
    path("community/photos/<int:photo_id>/withdraw/", views.withdraw, name="photo_withdraw"),
    path("community/photos/<int:photo_id>/report/", views.report, name="photo_report"),
]  # fmt: skip
