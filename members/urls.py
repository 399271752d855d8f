from django.urls import path

from members import views
from members.privacy import views as privacy_views

app_name = "members"

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("welcome/", views.welcome, name="welcome"),
    path("consent/", views.consent, name="consent"),
    path("join/", views.join, name="join"),
    path("join/invitation/", views.join_with_invitation, name="join_invitation"),
    path("join/membership-number/", views.join_with_membership_number, name="join_number"),
    path("join/apply/", views.join_by_application, name="join_apply"),
    path("me/", views.me, name="me"),
    path("me/profile/", views.profile, name="profile"),
    path("card/", views.card, name="card"),
    path("card/code/", views.card_code, name="card_code"),
    path("me/settings/", views.member_settings, name="settings"),
    path("me/invitations/", views.create_invitation, name="create_invitation"),
    path("me/privacy/", views.privacy, name="privacy"),
    path("me/export/", privacy_views.export_start, name="export"),
    path("me/exports/<str:token>/", privacy_views.export_status, name="export_status"),
    path("me/exports/<str:token>/download/", privacy_views.export_download, name="export_download"),
    path("me/leave/", views.leave, name="leave"),
]
