from django.urls import path

from loyalty import views

app_name = "loyalty"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("checkin/", views.checkin, name="checkin"),
    path("history/", views.history, name="history"),
    path("expiry/", views.expiry, name="expiry"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/<int:pk>/", views.reward_detail, name="reward"),
    path("rewards/<int:pk>/redeem/", views.redeem, name="redeem"),
    path("redemptions/", views.redemptions, name="redemptions"),
]
