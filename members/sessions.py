"""Sessions kept in PostgreSQL beside the user they name, and read together with that user.

Every signed-in request reads its session and then the user the session names. With sessions
in Redis that was a round trip to Redis and then one to PostgreSQL before any page work, and
together they were most of what a kept member page costs. Here the session row carries the
user's id in a column of its own, and one prepared statement (``core.prepared``) returns the
session with the user, member, tier and notification badge, read fresh on every request, so a
suspension or a tier change still shows on the next one.

Only the read is shared. Django still decides who is signed in: ``signed_in_user`` runs
``django.contrib.auth.get_user`` (the backend must be listed, the session's auth hash must
match the password), and the backend takes the user read with the session when its id is the
one asked for (``user_read_with_session``), and reads it itself otherwise.

The column also finds a user's sessions directly (ending them when a member leaves).

The store is named ``SessionStore`` like Django's: the name is part of the signing salt of the
session data, so sessions written by Django's stores stay readable here.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.db.models.functions import Now
from django.http import HttpRequest

from core.prepared import PreparedQuery


def _session_with_user(key):
    from core.notifications import badge_annotations
    from members.models import MemberSession

    return (
        MemberSession.objects.select_related("user__member__tier")
        .annotate(**badge_annotations("user_id"))
        .filter(session_key=key, expire_date__gt=Now())
    )


session_with_user = PreparedQuery(_session_with_user, types=(str,))

# The session of the request whose user ``signed_in_user`` is deciding.
_deciding: ContextVar[SessionStore | None] = ContextVar("session_deciding", default=None)
NOT_READ = object()  # the session has not been read (or was read by another request)


def _user_id(data: dict) -> int | None:
    try:
        return int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None


class SessionStore(db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # (user id, user or None) as read with the session; NOT_READ until it is read.
        self.read_user: tuple | object = NOT_READ

    @classmethod
    def get_model_class(cls):
        from members.models import MemberSession

        return MemberSession

    def _get_session_from_db(self):
        session = session_with_user.first(self.session_key)
        if session is None:
            self._session_key = None
            return None
        user = session.user
        if user is not None:
            user.badge_unread, user.badge_newest = session.badge_unread, session.badge_newest
        self.read_user = (session.user_id, user)
        return session

    def create_model_instance(self, data: dict):
        session = super().create_model_instance(data)
        session.user_id = _user_id(data)
        return session


def user_read_with_session(user_id: int) -> object:
    """The user read with the deciding request's session when it is ``user_id`` (None when the
    session named a user that is gone), else ``NOT_READ``."""
    store = _deciding.get()
    if store is None or store.read_user is NOT_READ:
        return NOT_READ
    read_id, user = store.read_user
    return user if read_id == user_id else NOT_READ


def signed_in_user(request: HttpRequest):
    """``request.user``: Django's ``get_user``, with the user read along with the session."""
    if not hasattr(request, "_cached_user"):
        session = request.session
        token = _deciding.set(session if isinstance(session, SessionStore) else None)
        try:
            request._cached_user = auth.get_user(request)
        finally:
            _deciding.reset(token)
    return request._cached_user
