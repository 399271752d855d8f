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

Most of that row is the same from one request to the next: the user, member and tier are 70
columns, and sending and decoding them cost more than the rest of the statement. So the
statement usually sent is narrow: the session, the badge and the three rows' versions
(PostgreSQL's ``xmin`` and ``ctid``, which every change to a row renews). The process keeps
the user's full row as last read, and while the versions match it builds the user, member and
tier from that copy exactly as the ORM would. When they differ (the member changed tier, the
user their password) or the process has no copy, the full row is read in a second statement.

The column also finds a user's sessions directly (ending them when a member leaves).

The store is named ``SessionStore`` like Django's: the name is part of the signing salt of the
session data, so sessions written by Django's stores stay readable here.
"""

from __future__ import annotations

import copy
import json
import time
from contextvars import ContextVar

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.db.models.functions import Now
from django.http import HttpRequest

from core.prepared import PreparedQuery


def _signed_in_version():
    """The versions of the session's user row and of their member and tier rows, as one text.

    A row's ``xmin`` names the transaction that wrote its current version, and its ``ctid``
    where that version lies: a change made by another transaction renews the first, a second
    change within one transaction (a long task, a test) the second."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models.expressions import RawSQL

    from members.models import Member, MemberSession, Tier

    q = connection.ops.quote_name
    user, member, tier = get_user_model()._meta, Member._meta, Tier._meta
    user_pk, tier_pk = q(user.pk.column), q(tier.pk.column)
    member_user, member_tier = (
        q(member.get_field("user").column),
        q(member.get_field("tier").column),
    )
    session = q(MemberSession._meta.db_table)
    return RawSQL(
        "(SELECT concat_ws('.', u.xmin, u.ctid, m.xmin, m.ctid, t.xmin, t.ctid) "
        f"FROM {q(user.db_table)} u "
        f"LEFT JOIN {q(member.db_table)} m ON m.{member_user} = u.{user_pk} "
        f"LEFT JOIN {q(tier.db_table)} t ON t.{tier_pk} = m.{member_tier} "
        f"WHERE u.{user_pk} = {session}.{q('user_id')})",
        (),
    )


def _session_read(key, *, wide: bool):
    from core.notifications import badge_annotations
    from members.models import MemberSession

    sessions = MemberSession.objects.all()
    if wide:
        sessions = sessions.select_related("user__member__tier")
    return sessions.annotate(
        **badge_annotations("user_id"), signed_in_version=_signed_in_version()
    ).filter(session_key=key, expire_date__gt=Now())


# The statements that read a session, by (wide, the SQL of a value read along or None). The
# narrow one returns the session, the badge and the versions of the user's rows; the wide one
# also the user, member and tier themselves (70 columns), read only when this process has no
# copy of those rows at those versions. A handful of shapes per site (each page kind's value
# read along), each compiled and prepared once.
_readers: dict[tuple[bool, str | None], PreparedQuery] = {}


def _session_reader(*, wide: bool, read_along: tuple[str, list] | None) -> PreparedQuery:
    sql = read_along[0] if read_along is not None else None
    reader = _readers.get((wide, sql))
    if reader is None:
        if sql is None:
            reader = PreparedQuery(lambda key: _session_read(key, wide=wide), types=(str,))
        else:
            from django.db.models.expressions import RawSQL

            def build(key, *marks):
                return _session_read(key, wide=wide).annotate(
                    read_along_value=RawSQL(f"({sql})", marks)
                )

            reader = PreparedQuery(build, types=(str, *[int] * len(read_along[1])))
        if len(_readers) < 200:
            _readers[(wide, sql)] = reader
    return reader


# The wide row last read for each user, in this process: user id → (the versions it was read
# at, when, the row). While a user's versions are unchanged, a request reads the narrow row and
# builds the user, member and tier from this copy, exactly as the ORM would from the wide row.
# A copy is used for a few minutes at most, whatever its versions say.
_wide_rows: dict[int, tuple[str, float, tuple]] = {}
WIDE_ROW_FOR = 300.0

# The user each session key was last read with, in this process (a session's user changes only
# when its key does: Django cycles the key at sign-in). Where it names no user with a copy, the
# wide row is read at once rather than after a narrow one.
_user_of_session: dict[str, int] = {}


def _fresh_copy(user_id: int | None) -> tuple[str, float, tuple] | None:
    kept = _wide_rows.get(user_id) if user_id is not None else None
    return kept if kept is not None and time.monotonic() - kept[1] < WIDE_ROW_FOR else None


def _read_session_row(key: str, read_along: tuple[str, list] | None):
    """The session with its user, member, tier, badge (and the value read along): one narrow
    read when this process holds the user's rows at their current versions, else the wide
    read (at once when the process has no copy for the session's last user; a second round
    trip when the copy turns out older than the rows)."""
    params = (key, *read_along[1]) if read_along is not None else (key,)
    wide = _session_reader(wide=True, read_along=read_along)
    if _fresh_copy(_user_of_session.get(key)) is not None:
        narrow = _session_reader(wide=False, read_along=read_along)
        row = narrow.row(*params)
        if row is None:
            return None
        kept = _fresh_copy(row[narrow.model_column("user_id")])
        version = row[narrow.annotation_column("signed_in_version")]
        if kept is not None and version is not None and kept[0] == version:
            full = [None] * wide.width()
            full[wide.model_columns()] = row[narrow.model_columns()]
            for name in ("badge_unread", "badge_newest", "signed_in_version") + (
                ("read_along_value",) if read_along is not None else ()
            ):
                full[wide.annotation_column(name)] = row[narrow.annotation_column(name)]
            # Values the database hands over as mutable containers are not shared between
            # requests.
            full[wide.related_columns()] = [
                copy.copy(value) if isinstance(value, list | dict) else value for value in kept[2]
            ]
            return wide.instance(tuple(full))
    # The narrow statement is prepared along with the wide one: a later request's first
    # narrow read then costs no round trip of its own to prepare.
    full = wide.row(*params, prepare_too=_session_reader(wide=False, read_along=read_along))
    if full is None:
        return None
    user_id = full[wide.model_column("user_id")]
    version = full[wide.annotation_column("signed_in_version")]
    if user_id is not None and version is not None:
        kept = (version, time.monotonic(), full[wide.related_columns()])
        _remember(_wide_rows, user_id, kept, limit=5_000)
        _remember(_user_of_session, key, user_id, limit=100_000)
    return wide.instance(full)


# The member each session key was last read with, in this process: a session's user changes
# only when its key does (Django cycles the key at sign-in), so it names the member the next
# request with that key is most likely from. Used only to guess; see ``plan_read_along``.
_member_of_session: dict[str, int] = {}

# The session of the request whose user ``signed_in_user`` is deciding.
_deciding: ContextVar[SessionStore | None] = ContextVar("session_deciding", default=None)
NOT_READ = object()  # the session has not been read (or was read by another request)


def _user_id(data: dict) -> int | None:
    try:
        return int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None


def _remember(memo: dict, key, value, *, limit: int) -> None:
    """Keep ``value`` in a process-wide memo, starting it afresh when full: sessions come and
    go, so a memo that stopped taking new keys would soon hold only ended ones."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value


# Session data this process has verified and decoded, by its signed text, as JSON. Checking the
# signature and decompressing cost about as much as the rest of a kept page's own work, for a
# text that only changes when the session is written. A fresh dict is parsed from the JSON on
# each request, so no two requests share a mutable value.
_decoded: dict[str, str] = {}


class SessionStore(db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # (user id, user or None) as read with the session; NOT_READ until it is read.
        self.read_user: tuple | object = NOT_READ
        # A statement (SQL, parameters) to run in the same round trip as the session read, and
        # then (that statement, its value) as read (``plan_read_along``).
        self.read_along_plan: tuple[str, list] | None = None
        self.read_along: tuple[tuple[str, list], object] | None = None

    @classmethod
    def get_model_class(cls):
        from members.models import MemberSession

        return MemberSession

    def _get_session_from_db(self):
        plan = self.read_along_plan
        session = _read_session_row(self.session_key, plan)
        if session is None:
            self._session_key = None
            return None
        if plan is not None:
            self.read_along = (plan, session.read_along_value)
        user = session.user
        if user is not None:
            user.badge_unread, user.badge_newest = session.badge_unread, session.badge_newest
            member = getattr(user, "member", None)
            if member is not None:
                _remember(_member_of_session, self.session_key, member.pk, limit=100_000)
        self.read_user = (session.user_id, user)
        return session

    def decode(self, session_data: str) -> dict:
        text = _decoded.get(session_data)
        if text is None:
            data = super().decode(session_data)
            if not data:
                return data
            text = json.dumps(data)
            _remember(_decoded, session_data, text, limit=20_000)
        return json.loads(text)

    def create_model_instance(self, data: dict):
        session = super().create_model_instance(data)
        session.user_id = _user_id(data)
        return session


def plan_read_along(request: HttpRequest) -> None:
    """Before the session is read: when this process has served the session's member a kept
    page at this address, ask the page's version statement in the same round trip.

    The member is a guess (the one this session key was last read with), so the value is used
    only for exactly the statement and parameters the page then asks for the member actually
    signed in (``core.pagecache``); a wrong guess costs the query it would have cost anyway.
    """
    from core import pagecache

    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore) or hasattr(session, "_session_cache"):
        return
    member_id = _member_of_session.get(session.session_key or "")
    if member_id is None:
        return
    statement = pagecache.version_to_read_with_session(request, member_id)
    if statement is not None and all(type(value) is int for value in statement[1]):
        session.read_along_plan = statement


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
        # From now on ``request.user`` is the user itself: every attribute read through the
        # lazy proxy costs two more lookups, and a kept member page reads dozens.
        request.user = request._cached_user
    return request._cached_user
