"""Signing in: the user is loaded with their member row and tier in one query.

Every page a member opens asks who they are twice over: Django loads the user from the
session, then the site shell and the gate need the member and the tier. Loading all three in
the one query Django makes anyway saves a round trip on every signed-in request; the member's
state and tier are still read fresh on each request, so a suspension or a tier change takes
effect on the next one.
"""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class _LoadsMemberWithUser:
    def get_user(self, user_id):
        model = get_user_model()
        try:
            user = model._default_manager.select_related("member__tier").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


class MemberModelBackend(_LoadsMemberWithUser, ModelBackend):
    """Django's username and password sign-in (staff)."""


class MemberAuthenticationBackend(_LoadsMemberWithUser, AuthenticationBackend):
    """allauth's sign-in (Weibo members, staff by e-mail)."""
