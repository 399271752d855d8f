"""Permission plumbing shared by every app's staff admin views and menus.

Every admin view checks a model permission on GET and POST alike and answers a real 403 page
(Wagtail would turn ``PermissionDenied`` into a redirect to the dashboard, hiding the refusal).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from wagtail.admin.menu import MenuItem


def has_any_perm(user, perms: tuple[str, ...]) -> bool:
    return any(user.has_perm(perm) for perm in perms)


def forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "core/admin/forbidden.html", status=403)


def permission_required(*perms: str) -> Callable:
    """Let the request through when the user holds any of ``perms``; 403 otherwise."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not has_any_perm(request.user, perms):
                return forbidden(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class PermissionMenuItem(MenuItem):
    """A menu item shown only to users holding any of ``perms``."""

    def __init__(self, label, url, perms: tuple[str, ...], **kwargs) -> None:
        super().__init__(label, url, **kwargs)
        self.perms = perms

    def is_shown(self, request) -> bool:
        return has_any_perm(request.user, self.perms)
