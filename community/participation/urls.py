"""Member-facing routes of taking part (included in the ``community`` namespace)."""

from django.urls import path

from community.participation import checkin_views, views

urlpatterns = [
    path("community/offers/<int:pk>/claim/", views.offer_claim, name="offer_claim"),
    path("community/activities/<int:pk>/register/", views.activity_register,
         name="activity_register"),
    path("community/registrations/<int:pk>/cancel/", views.registration_cancel,
         name="registration_cancel"),
    path("community/offers/<int:pk>/waitlist/", views.offer_waitlist_join,
         name="offer_waitlist_join"),
    path("community/offers/<int:pk>/waitlist/leave/", views.offer_waitlist_leave,
         name="offer_waitlist_leave"),
    path("community/registrations/<int:pk>/confirm/", views.registration_confirm,
         name="registration_confirm"),
    path("community/draws/<int:pk>/enter/", views.draw_enter, name="draw_enter"),
    path("community/draws/<int:pk>/withdraw/", views.draw_withdraw, name="draw_withdraw"),
    path("community/draws/<int:pk>/", views.draw_record, name="draw_record"),
    path("community/draws/<int:pk>/draw.json", views.draw_record_json, name="draw_record_json"),
    path("community/my/offers/", views.my_offers, name="my_offers"),
    path("community/my/activities/", views.my_activities, name="my_activities"),
    path("community/checkin/", checkin_views.checkin_home, name="checkin_home"),
    path("community/checkin/<int:pk>/", checkin_views.checkin_scanner, name="checkin_scanner"),
]  # fmt: skip
