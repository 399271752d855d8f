"""Notifications: persisted per user, delivered over websockets after commit.

``notify`` is called by services inside their transaction: the row commits (or rolls back) with
the event, and the push happens only after commit. A browser that was offline catches up from
the persisted list. Tier-wide announcements are persisted per member in bulk and pushed once per
tier through a channel-layer group, never by looping over sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from core.events import (
    STAFF_GROUP,
    publish_on_commit,
    regroup_on_commit,
    tier_group,
    user_group,
)
from core.models import Notification, NotificationPreference


def written_for(language: str | None) -> translation.override:
    """Compose a notification in its reader's language, not the worker's.

    Titles and bodies are stored as text, so they are translated when written: a worker has
    no request to take the language from, and would write every member the site's default.
    """
    known = {code for code, _name in settings.LANGUAGES}
    return translation.override(language if language in known else settings.LANGUAGE_CODE)


def _muted(user_id: int, kind: str) -> bool:
    return NotificationPreference.objects.filter(user_id=user_id, kind=kind).exists()


def notify(
    *,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    dedupe_key: str | None = None,
) -> Notification | None:
    """Persist and (after commit) push one notification; None when muted or a duplicate."""
    if _muted(user_id, kind):
        return None
    with transaction.atomic():
        if (
            dedupe_key
            and Notification.objects.filter(user_id=user_id, dedupe_key=dedupe_key).exists()
        ):
            return None
        notification = Notification.objects.create(
            user_id=user_id, kind=kind, title=str(title)[:200], body=str(body), link=link[:500],
            dedupe_key=dedupe_key,
        )  # fmt: skip
        publish_on_commit(user_group(user_id), notification.as_event())
    return notification


def notify_tier(
    *,
    tier_code: str,
    user_ids: Iterable[int],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    dedupe_key: str,
) -> int:
    """Persist one notification per user (skipping muted and already-notified users) and push
    a single event to the tier's group. Returns how many rows were written.

    ``user_ids`` is read ``TIER_NOTIFY_BATCH`` at a time (a generator keeps a large tier out of
    memory); every batch is written in the one transaction, so the tier is told all at once or
    not at all, and the unique ``dedupe_key`` per user keeps a repeat from writing twice.
    """
    ids = iter(user_ids)
    written = 0
    with transaction.atomic():
        while batch := list(islice(ids, settings.TIER_NOTIFY_BATCH)):
            muted = set(
                NotificationPreference.objects.filter(user_id__in=batch, kind=kind).values_list(
                    "user_id", flat=True
                )
            )
            rows = [
                Notification(user_id=uid, kind=kind, title=title[:200], body=body,
                             link=link[:500], dedupe_key=dedupe_key)
                for uid in batch if uid not in muted
            ]  # fmt: skip
            written += len(Notification.objects.bulk_create(rows, ignore_conflicts=True))
        publish_on_commit(
            tier_group(tier_code),
            {"type": "notification", "kind": kind, "title": title, "body": body, "link": link,
             "broadcast": dedupe_key},
        )  # fmt: skip
    return written


def notify_staff(*, counter: str) -> None:
    """Tell live staff dashboards that a counter changed (they re-read the numbers)."""
    publish_on_commit(STAFF_GROUP, {"type": "counter", "counter": counter})


def mark_read(*, user, ids: Iterable[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def set_muted(*, user, kind: str, muted: bool) -> None:
    if kind not in Notification.Kind.values:
        raise ValueError(kind)
    if muted:
        changed = NotificationPreference.objects.get_or_create(user=user, kind=kind)[1]
    else:
        changed = NotificationPreference.objects.filter(user=user, kind=kind).delete()[0] > 0
    if changed:
        regroup_on_commit(user.pk)  # open sockets stop (or resume) showing that kind's broadcasts


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


_BADGE_SQL = (
    "SELECT (SELECT COUNT(*) FROM {t} WHERE user_id = %s AND read_at IS NULL), "
    "(SELECT id FROM {t} WHERE user_id = %s ORDER BY id DESC LIMIT 1)"
)


def badge_annotations(user_column: str) -> dict:
    """``badge_unread`` and ``badge_newest`` as subqueries on the user named by
    ``user_column``, for the sign-in reads to annotate (``members.sessions``, ``members.auth``)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    mine = Notification.objects.filter(user=OuterRef(user_column)).order_by()
    unread = mine.filter(read_at__isnull=True).values("user").annotate(n=Count("pk")).values("n")
    newest = mine.order_by("-id").values("id")[:1]
    return {
        "badge_unread": Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
        "badge_newest": Coalesce(Subquery(newest, output_field=IntegerField()), Value(0)),
    }


def request_badge(request) -> tuple[int, int]:
    """(unread count, newest id) for this request's header, read at most once per request.

    A GET takes the figures read with the user at sign-in (``members.auth``: the same query,
    no extra round trip); a request that may change notifications (marking them read) reads
    them again after its work.
    """
    state = getattr(request, "_notification_badge", None)
    if state is not None:
        return state
    user = request.user
    if request.method in ("GET", "HEAD") and hasattr(user, "badge_unread"):
        state = (user.badge_unread or 0, user.badge_newest or 0)
    else:
        state = badge_state(user)
    request._notification_badge = state
    return state


def badge_state(user) -> tuple[int, int]:
    """(unread count, newest id) for the header badge and the live script, in one query: for
    requests that may have changed them (``request_badge``); a GET uses the sign-in read."""
    from django.db import connection

    table = connection.ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_BADGE_SQL.format(t=table), [user.pk, user.pk])
        row = cursor.fetchone()
    return row[0] or 0, row[1] or 0
