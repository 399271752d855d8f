"""Segments: where each member stands on the social technographics ladder, and why.

Marketing staff target earning rules and notifications at segments, so the definitions are
fixed here and documented for them in ``docs/staff.md``. Each night ``segments_classify`` looks at
the 90 days before the run and puts every admitted member on the highest rung whose condition
holds:

``creator``
    Started at least ``CREATOR_MIN_THREADS`` discussions (top-level comments that are shown or
    awaiting moderation). Members cannot publish pages or upload images in this product (only
    staff can), so starting discussions is the creative act open to them.
``critic``
    Wrote any comment or reply (shown or awaiting moderation), or reported a comment.
``collector``
    Liked an item or a comment, shared something to Weibo, or claimed an offer.
``joiner``
    Registered for an activity, or did a daily check-in. Changes of profile or notification
    preferences leave no dated record here, so they cannot count.
``spectator``
    None of the above, but visited: signed in with Weibo (``last_seen_at``) within the window.
    Item views are counted per tier and day, not per member, so they cannot count either.
``inactive``
    None of the above and no visit in the window.

Members who are not admitted (applicants, suspended, departed) have no segment. The reasons
stored with a segment are the counts behind it (``{"threads": 4, "likes": 12}``), plus the day of
the last visit for the two lowest rungs.

The same job re-evaluates the zombie flag from the stored Weibo data (``zombie_reasons``), so a
flag set at login follows the account as it ages. Changes of segment or flag, and only changes,
are audited (no actor; rule ``segments.nightly`` / ``zombies.nightly``). The job is idempotent:
a second run on the same data changes and audits nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import audit
from core.errors import DomainError
from core.locking import Lock, lock_rows
from core.models import AuditEntry, Notification
from core.notifications import notify
from members import selectors
from members.models import Member, Segment, ZombieAudience
from members.services import zombie_reasons

WINDOW_DAYS = 90
CREATOR_MIN_THREADS = 3
BATCH_SIZE = 2000
SEGMENT_RULE = "segments.nightly"
ZOMBIE_RULE = "zombies.nightly"
NOTICE_ACTION = "members.segment_notified"

# Conditions of each rung above the visit-based ones: any of these counts reaching its minimum.
RUNGS: list[tuple[str, dict[str, int]]] = [
    (Segment.CREATOR, {"threads": CREATOR_MIN_THREADS}),
    (Segment.CRITIC, {"comments": 1, "reports": 1}),
    (Segment.COLLECTOR, {"likes": 1, "shares": 1, "claims": 1}),
    (Segment.JOINER, {"registrations": 1, "checkins": 1}),
]

REASON_LABELS = {
    "threads": gettext_lazy("发起讨论"),
    "comments": gettext_lazy("评论和回复"),
    "reports": gettext_lazy("举报"),
    "likes": gettext_lazy("点赞"),
    "shares": gettext_lazy("分享到微博"),
    "claims": gettext_lazy("领取优惠"),
    "registrations": gettext_lazy("活动报名"),
    "checkins": gettext_lazy("每日签到"),
    "last_visit": gettext_lazy("最近访问"),
}
ZOMBIE_REASON_LABELS = {
    "few_followers": gettext_lazy("粉丝很少"),
    "follows_many": gettext_lazy("关注远多于粉丝"),
    "almost_no_statuses": gettext_lazy("几乎没有发过微博"),
    "default_avatar": gettext_lazy("默认头像"),
    "new_account": gettext_lazy("新注册的微博账号"),
}


def labelled(reasons: dict[str, Any] | list[str], labels: dict[str, Any]) -> list[tuple[str, Any]]:
    """Reasons as (label, value) pairs for display, in the order of ``labels`` (the ladder's,
    from the highest rung down; stored JSON does not keep an order). Unknown keys come last,
    as they are."""
    order = {key: index for index, key in enumerate(labels)}
    keys = sorted(reasons, key=lambda key: (order.get(key, len(order)), key))
    if isinstance(reasons, dict):
        return [(str(labels.get(key, key)), reasons[key]) for key in keys]
    return [(str(labels.get(key, key)), None) for key in keys]


def classify(
    counts: dict[str, int], *, last_seen_at: datetime | None, since: datetime, tz: tzinfo
) -> tuple[str, dict[str, Any]]:
    """The rung of one admitted member and the reasons for it (a pure function of its input).

    ``tz`` is the site's time zone, for the day of the last visit.
    """
    reasons: dict[str, Any] = {key: counts[key] for key in REASON_LABELS if counts.get(key)}
    for segment, minimums in RUNGS:
        if any(counts.get(key, 0) >= minimum for key, minimum in minimums.items()):
            return segment, reasons
    reasons["last_visit"] = last_seen_at.astimezone(tz).date().isoformat() if last_seen_at else None
    if last_seen_at and last_seen_at >= since:
        return Segment.SPECTATOR, reasons
    return Segment.INACTIVE, reasons


def _update_rows(model, rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
    """``UPDATE … FROM unnest(arrays)``: one statement for many rows, each with its own values.

    ``columns`` maps field names to their SQL types; JSON values are passed as text and cast.
    Much faster than a ``CASE`` per column when thousands of rows change.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ["id", *columns]
    types = {"id": "bigint", **columns}
    arrays = []
    for name in names:
        values = [row[name] for row in rows]
        if types[name] == "jsonb":
            values = [json.dumps(value, ensure_ascii=False) for value in values]
        arrays.append(values)
    unnest = ", ".join(
        f"%s::{'text' if types[name] == 'jsonb' else types[name]}[]" for name in names
    )
    assignments = ", ".join(
        f"{quote(model._meta.get_field(name).column)} = v.{quote(name)}"
        + ("::jsonb" if columns[name] == "jsonb" else "")
        for name in columns
    )
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({unnest}) AS v({', '.join(quote(name) for name in names)}) "
        f"WHERE t.{quote('id')} = v.{quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _automated_entry(
    member_id: int, label: str, *, action: str, rule: str, before: dict, after: dict
) -> AuditEntry:
    return AuditEntry(
        action=action,
        actor=None,
        actor_label=rule,
        target_type=Member._meta.label,
        target_id=str(member_id),
        target_label=label[:200],
        before=before,
        after=after,
    )


# What the batch reads of each member: plain values, no model instances (100,000 of them, with
# their users, would cost more than all the SQL of the job).
BATCH_FIELDS = (
    "pk", "state", "last_seen_at", "segment", "segment_reasons", "segment_since",
    "zombie_suspected", "zombie_reasons", "weibo_followers", "weibo_friends", "weibo_statuses",
    "weibo_default_avatar", "weibo_created_at", "display_name", "weibo_screen_name",
    "user__username",
)  # fmt: skip


def _classify_batch(
    member_ids: list[int], *, activity: dict[int, dict[str, int]], since: datetime, now: datetime
) -> tuple[int, int]:
    """Classify and re-check one batch of members in one transaction; returns the changes.

    Only rows whose segment, reasons or zombie flag change are written and, for segment and
    flag changes, audited.
    """
    tz = timezone.get_current_timezone()
    rows: list[dict[str, Any]] = []
    entries: list[AuditEntry] = []
    with transaction.atomic():
        (members,) = lock_rows(
            (
                Lock.MEMBER,
                Member.objects.filter(pk__in=member_ids)
                .order_by("pk")
                .values_list(*BATCH_FIELDS, named=True),
            )
        )
        for m in members:
            label = m.display_name or m.weibo_screen_name or m.user__username  # as Member.__str__
            if m.state == Member.State.MEMBER:
                segment, reasons = classify(
                    activity.get(m.pk, {}), last_seen_at=m.last_seen_at, since=since, tz=tz
                )
            else:
                segment, reasons = "", {}
            old_zombie = list(m.zombie_reasons or [])
            if m.state == Member.State.LEFT:  # Weibo data wiped on leaving: nothing to judge
                zombie = old_zombie
            else:
                zombie = zombie_reasons(
                    {
                        "weibo_followers": m.weibo_followers,
                        "weibo_friends": m.weibo_friends,
                        "weibo_statuses": m.weibo_statuses,
                        "weibo_default_avatar": m.weibo_default_avatar,
                        "weibo_created_at": m.weibo_created_at,
                    },
                    now=now,
                )
            segment_changed = segment != m.segment
            zombie_changed = bool(zombie) != m.zombie_suspected or zombie != old_zombie
            if segment_changed:
                entries.append(
                    _automated_entry(
                        m.pk, label, action="member.segment_changed", rule=SEGMENT_RULE,
                        before={"segment": m.segment or None},
                        after={"segment": segment or None, "reasons": reasons},
                    )
                )  # fmt: skip
            if zombie_changed:
                entries.append(
                    _automated_entry(
                        m.pk, label, action="member.zombie_changed", rule=ZOMBIE_RULE,
                        before={"zombie_suspected": m.zombie_suspected,
                                "zombie_reasons": old_zombie},
                        after={"zombie_suspected": bool(zombie), "zombie_reasons": zombie},
                    )
                )  # fmt: skip
            if segment_changed or zombie_changed or reasons != m.segment_reasons:
                if segment_changed:
                    segment_since = now if segment else None
                else:
                    segment_since = m.segment_since
                rows.append(
                    {
                        "id": m.pk,
                        "segment": segment,
                        "segment_reasons": reasons,
                        "segment_since": segment_since,
                        "zombie_suspected": bool(zombie),
                        "zombie_reasons": zombie,
                    }
                )
        _update_rows(
            Member,
            rows,
            {
                "segment": "varchar",
                "segment_reasons": "jsonb",
                "segment_since": "timestamptz",
                "zombie_suspected": "boolean",
                "zombie_reasons": "jsonb",
            },
        )
        audit.audit_record_many(entries)
    segment_changes = sum(entry.action == "member.segment_changed" for entry in entries)
    return segment_changes, len(entries) - segment_changes


def segments_classify(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """The nightly job: classify every admitted member and re-check every zombie flag.

    Activity is counted once for everybody (a handful of aggregate queries); members are then
    updated in batches of ``batch_size``, each batch one transaction that locks its rows in id
    order, writes the changed ones with one statement and audits the changes in bulk. A crash
    between batches leaves earlier batches done; the next run completes the rest.
    """
    now = now or timezone.now()
    since = now - timedelta(days=WINDOW_DAYS)
    activity = selectors.segment_activity(since=since, until=now)
    member_ids = list(
        Member.objects.exclude(state=Member.State.LEFT, segment="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    segment_changes = zombie_changes = 0
    for start in range(0, len(member_ids), batch_size):
        changed = _classify_batch(
            member_ids[start : start + batch_size], activity=activity, since=since, now=now
        )
        segment_changes += changed[0]
        zombie_changes += changed[1]
    return {
        "members": len(member_ids),
        "segment_changes": segment_changes,
        "zombie_changes": zombie_changes,
    }


# --- Notifying a segment ------------------------------------------------------------------------


def _clean_link(link: str) -> str:
    link = (link or "").strip()
    if link and not (
        (link.startswith("/") and not link.startswith("//")) or link.startswith("https://")
    ):
        raise DomainError(_("链接须以 / 开头（本站页面）或以 https:// 开头。"))
    if len(link) > 500:
        raise DomainError(_("链接不能超过 500 个字符。"))
    return link


def segment_notify(
    *,
    segment: str,
    title: str,
    body: str,
    link: str = "",
    zombies: str = ZombieAudience.ALL,
    actor,
    ip: str | None = None,
) -> AuditEntry:
    """Send a staff message to every admitted member of ``segment``, after commit.

    ``zombies`` includes (default), leaves out or targets only suspected zombie accounts.

    The audit entry holds the message and the number of recipients at the time of sending; the
    task delivers from that entry (it takes only its id) and is safe to run twice: each
    member's notification carries the entry's dedupe key.
    """
    from members.tasks import notify_segment

    if segment not in Segment.values:
        raise DomainError(_("请选择一个用户分层。"))
    if zombies not in ZombieAudience.values:
        raise DomainError(_("请选择是否包含疑似僵尸号。"))
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise DomainError(_("请填写通知标题。"))
    if len(title) > 200 or len(body) > 2000:
        raise DomainError(_("标题不能超过 200 字，正文不能超过 2000 字。"))
    link = _clean_link(link)
    with transaction.atomic():
        recipients = selectors.segment_recipients(segment, zombies).count()
        if not recipients:
            raise DomainError(_("这个分层目前没有会员。"))
        entry = audit.audit_record(
            action=NOTICE_ACTION,
            actor=actor,
            target=f"segment:{segment}",
            after={
                "segment": segment,
                "zombies": zombies,
                "title": title,
                "body": body,
                "link": link,
                "recipients": recipients,
            },
            ip=ip,
        )
        notify_segment.delay_on_commit(entry.pk)
    return entry


def segment_notify_deliver(*, entry_id: int) -> int:
    """Notify the segment's members of the message in audit entry ``entry_id``; returns how
    many notifications were written (members who muted the kind, or already have it, get none).
    """
    entry = AuditEntry.objects.get(pk=entry_id, action=NOTICE_ACTION)
    message = entry.after
    user_ids = (
        selectors.segment_recipients(message["segment"], message.get("zombies", ZombieAudience.ALL))
        .order_by("pk")
        .values_list("user_id", flat=True)
    )
    written = 0
    for user_id in user_ids.iterator(chunk_size=2000):
        # No kind of its own exists for staff messages; "new content for you" is the nearest,
        # and members who muted it are not messaged.
        written += (
            notify(
                user_id=user_id,
                kind=Notification.Kind.CLUB_MESSAGE,
                title=message["title"],
                body=message["body"],
                link=message["link"],
                dedupe_key=f"segment-notice:{entry.pk}",
            )
            is not None
        )
    return written
