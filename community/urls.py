from django.urls import include, path, re_path

from community import views

app_name = "community"

urlpatterns = [
    path("search/", views.search, name="search"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
    path("feed/", views.ItemsFeed(), name="feed"),
    path("feed/<str:token>/", views.ItemsFeed(), name="member_feed"),
    path("api/items/", views.items_api, name="api_items"),
    path("img/<int:image_id>/<str:filter_spec>/", views.image, name="image"),
    path(
        "img/<int:image_id>/<str:filter_spec>/<str:image_format>/", views.image, name="image_format"
    ),  # fmt: skip
    re_path(r"^media/(?P<path>.+)$", views.staff_media, name="staff_media"),
    path("", include("community.participation.urls")),
    path("", include("community.interaction.urls")),
    path("", include("community.photos.urls")),
]
