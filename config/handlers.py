"""The WSGI handler every server entry point uses (``config.asgi``, ``config.wsgi``)."""

from __future__ import annotations

import django
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest


class ClubRequest(WSGIRequest):
    """Django's request, remembering the host it validated.

    ``get_host`` checks the host against ``ALLOWED_HOSTS`` on every call, and a member's kept
    page asks it five times (common middleware, the page cache's key, Wagtail's site lookup).
    The headers it reads do not change during a request. A refused host is not remembered:
    every call refuses it again.
    """

    def get_host(self) -> str:
        host = self.__dict__.get("_validated_host")
        if host is None:
            host = self._validated_host = super().get_host()
        return host


class ClubWSGIHandler(WSGIHandler):
    request_class = ClubRequest


def wsgi_application() -> ClubWSGIHandler:
    """``django.core.wsgi.get_wsgi_application`` with the project's request class."""
    django.setup(set_prefix=False)
    return ClubWSGIHandler()
