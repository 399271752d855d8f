"""Member-facing interaction endpoints; mounted under the community URLs."""

from django.urls import path

from community.interaction import views

app_name = "interaction"

urlpatterns = [
    path("interaction/items/<int:page_id>/comments/", views.comment_create, name="comment_create"),
    path("interaction/items/<int:page_id>/like/", views.item_like, name="item_like"),
    path(
        "interaction/items/<int:page_id>/mentions/",
        views.mention_suggestions,
        name="mention_suggestions",
    ),
    path("interaction/comments/<int:pk>/edit/", views.comment_edit, name="comment_edit"),
    path("interaction/comments/<int:pk>/remove/", views.comment_withdraw, name="comment_remove"),
    path("interaction/comments/<int:pk>/report/", views.comment_report, name="comment_report"),
    path("interaction/comments/<int:pk>/like/", views.comment_like, name="comment_like"),
]
