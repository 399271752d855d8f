"""Signing in: the user is loaded with their member row, tier and notification badge in one
prepared query.

Every page a member opens asks who they are twice over: Django loads the user from the
session, then the site shell and the gate need the member and the tier, and the header the
unread count. Reading all of it in the one query Django makes anyway saves round trips on every
signed-in request, and the statement is compiled once per process (``core.prepared``): building
it through the ORM cost more than running it. The member's state and tier are still read fresh
on each request, so a suspension or a tier change takes effect on the next one.

On a page request the same columns come with the session itself (``members.sessions``); this
read serves the other ways in (websockets, a user asked for by id).
"""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from core.prepared import PreparedQuery
from members.sessions import NOT_READ, user_read_with_session


def _user_with_member(mark):
    from core.notifications import badge_annotations

    return (
        get_user_model()
        ._default_manager.select_related("member__tier")
        .annotate(**badge_annotations("pk"))
        .filter(pk=mark)
    )


user_with_member = PreparedQuery(_user_with_member)


class _LoadsMemberWithUser:
    def get_user(self, user_id):
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        user = user_read_with_session(user_id)
        if user is NOT_READ:
            user = user_with_member.first(user_id)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None


class MemberModelBackend(_LoadsMemberWithUser, ModelBackend):
    """Django's username and password sign-in (staff)."""


class MemberAuthenticationBackend(_LoadsMemberWithUser, AuthenticationBackend):
    """allauth's sign-in (Weibo members, staff by e-mail)."""
