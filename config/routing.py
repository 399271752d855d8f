"""Websocket URL routes for every app."""

from django.urls import path

from core.consumers import MemberEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", MemberEventsConsumer.as_asgi()),
]
