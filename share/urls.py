from django.urls import path

from share import views

app_name = "share"

urlpatterns = [
    path("share/new/", views.share_new, name="new"),
    path("share/card.jpg", views.card_preview, name="card_preview"),
    path("share/mine/", views.share_mine, name="mine"),
    path("share/<int:pk>/retry/", views.share_retry, name="retry"),
    path("s/<str:token>/", views.landing, name="landing"),
    path("s/<str:token>/card.jpg", views.landing_card, name="landing_card"),
]
