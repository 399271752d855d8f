"""Reads of member interaction: an item's comments and likes, the moderation queue.

An item's comments are part of its gated content: ``item_interaction`` returns nothing, not even
counts, unless the gate's decision for the viewer is FULL. The number of queries on an item page
does not grow with its comments (one query each for the thread page, its replies and counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.query import prefetch_related_objects

from community import gate
from community.interaction import moderation
from community.interaction.services import is_commentable, viewer_of
from community.models_interaction import (
    Comment,
    CommentLike,
    CommentMention,
    CommentReport,
    ItemLike,
    ModerationKeyword,
)
from core.audit import audit_resolve
from core.models import AuditEntry
from members.models import Member
from members.selectors import ViewerStatus

State = Comment.State
COMMENTS_PER_PAGE = 30
QUEUE_PER_PAGE = 50


@dataclass
class ItemInteraction:
    """What a viewer with full access sees of an item's conversation."""

    threads: list[Comment]
    pager: Page
    comment_count: int
    like_count: int
    liked: bool
    can_write: bool
    report_reasons: list = field(default_factory=lambda: CommentReport.Reason.choices)


def _visible_to(member) -> Q:
    """Published comments, and the member's own that others cannot see (held, rejected,
    removed by a moderator), so the writer knows what became of them."""
    visible = Q(state=State.PUBLISHED)
    if member is not None:
        own_hidden = Q(state__in=[State.HELD, State.REJECTED]) | (
            Q(state=State.REMOVED) & ~Q(decided_by_id=member.user_id)
        )
        visible |= Q(member_id=member.pk) & own_hidden
    return visible


def item_interaction(
    *, page, viewer: ViewerStatus, decision: gate.Decision, page_number=None
) -> ItemInteraction | None:
    """The item's conversation for ``viewer``: counts first, in one plain query; the threads
    (annotated ORM queries, costly to build) only when there is a thread to show."""
    if not decision.full or not is_commentable(page):
        return None
    member = viewer.member if viewer.is_member else None
    counts = _item_counts(page.pk, member)
    visible = _visible_to(member)
    comments = (
        Comment.objects.filter(page_id=page.pk)
        .select_related("member")
        .annotate(like_total=Count("likes"))
    )
    if member is not None:
        mine = CommentLike.objects.filter(comment=OuterRef("pk"), member_id=member.pk)
        comments = comments.annotate(liked=Exists(mine))
    # A comment taken down after others replied stays as a placeholder above the replies.
    answered = Exists(Comment.objects.filter(parent=OuterRef("pk"), state=State.PUBLISHED))
    top = comments.filter(parent__isnull=True).filter(visible | answered)
    paginator = Paginator(top.order_by("-created_at", "-pk"), COMMENTS_PER_PAGE)
    paginator.count = counts.threads  # counted with the rest (the same rule, in SQL)
    pager = paginator.get_page(page_number)
    threads = list(pager.object_list) if counts.threads else []
    by_parent: dict[int, list[Comment]] = defaultdict(list)
    if threads:
        replies = comments.filter(parent_id__in=[c.pk for c in threads]).filter(visible)
        for reply in replies.order_by("created_at", "pk"):
            by_parent[reply.parent_id].append(reply)
    for comment in threads:
        comment.thread_replies = by_parent[comment.pk]
        for each in (comment, *comment.thread_replies):
            each.own = member is not None and each.member_id == member.pk
            each.placeholder = each.state != State.PUBLISHED and not each.own
    _attach_mention_links([c for thread in threads for c in (thread, *thread.thread_replies)],
                          page)  # fmt: skip
    return ItemInteraction(
        threads=threads,
        pager=pager,
        comment_count=counts.comments,
        like_count=counts.likes,
        liked=counts.liked,
        can_write=member is not None,
    )


def _attach_mention_links(comments: list[Comment], page) -> None:
    """``mention_links`` (handle → screen name) on each comment: the members it mentions who
    are admitted and may still read the item, per the gate. One query, and only when a shown
    comment has an "@" in it."""
    for comment in comments:
        comment.mention_links = {}
    shown = {c.pk: c for c in comments if not c.placeholder and "@" in c.body}
    if not shown:
        return
    rows = list(
        CommentMention.objects.filter(
            comment_id__in=list(shown), member__state=Member.State.MEMBER,
            member__mention_handle__isnull=False,
        ).select_related("member__tier")
    )  # fmt: skip
    if rows:
        prefetch_related_objects([page], "tiers")
    for row in rows:
        member = row.member
        if gate.decide(viewer_of(member), page, gate.Surface.NOTIFICATION).full:
            shown[row.comment_id].mention_links[member.mention_handle] = member.weibo_screen_name


@dataclass(frozen=True)
class _Counts:
    comments: int  # published
    likes: int
    liked: bool
    threads: int  # top-level comments the viewer is shown (``_visible_to`` or answered)


_COUNTS_SQL = """
SELECT
    (SELECT COUNT(*) FROM {c} WHERE page_id = %(page)s AND state = %(published)s),
    (SELECT COUNT(*) FROM {l} WHERE page_id = %(page)s),
    EXISTS (SELECT 1 FROM {l} WHERE page_id = %(page)s AND member_id = %(member)s),
    (SELECT COUNT(*) FROM {c} t WHERE t.page_id = %(page)s AND t.parent_id IS NULL AND (
        t.state = %(published)s
        OR (t.member_id = %(member)s AND (t.state IN (%(held)s, %(rejected)s)
            OR (t.state = %(removed)s AND t.decided_by_id IS DISTINCT FROM %(user)s)))
        OR EXISTS (SELECT 1 FROM {c} r WHERE r.parent_id = t.id AND r.state = %(published)s)))
"""


def _item_counts(page_id: int, member) -> _Counts:
    """Published comments, likes, whether the member liked the item, and how many threads the
    member is shown (the rule of ``_visible_to``, plus answered ones): one query."""
    from django.db import connection

    sql = _COUNTS_SQL.format(
        c=connection.ops.quote_name(Comment._meta.db_table),
        l=connection.ops.quote_name(ItemLike._meta.db_table),
    )
    params = {
        "page": page_id, "published": State.PUBLISHED, "held": State.HELD,
        "rejected": State.REJECTED, "removed": State.REMOVED,
        "member": member.pk if member else None, "user": member.user_id if member else None,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        comments, likes, liked, threads = cursor.fetchone()
    return _Counts(comments, likes, bool(liked), threads)


MENTION_SUGGESTIONS = 8
_SUGGESTION_CANDIDATES = 50  # read this many by handle, then keep those the gate lets see


@dataclass(frozen=True)
class MentionSuggestion:
    """What a member typing "@" is shown of another member: nothing beyond these three."""

    handle: str  # the screen name, as it is written after "@"
    name: str
    avatar: str


def mention_suggestions(*, page, member, prefix: str) -> list[MentionSuggestion]:
    """Admitted members whose handle starts with ``prefix`` and who may read all of ``page``
    (the gate, as for the mention itself), never ``member``; at most ``MENTION_SUGGESTIONS``,
    by handle. Only members named here can be mentioned usefully on this item."""
    from members.handles import HANDLE_MAX_LENGTH, normalise_handle

    start = normalise_handle(prefix)
    if not start or len(start) > HANDLE_MAX_LENGTH:
        return []
    candidates = (
        Member.objects.filter(state=Member.State.MEMBER, mention_handle__startswith=start)
        .exclude(pk=member.pk)
        .select_related("tier")
        .only("pk", "state", "tier", "mention_handle", "weibo_screen_name", "display_name",
              "weibo_avatar_url")
        .order_by("mention_handle")[:_SUGGESTION_CANDIDATES]
    )  # fmt: skip
    prefetch_related_objects([page], "tiers")
    found: list[MentionSuggestion] = []
    for candidate in candidates:
        if gate.decide(viewer_of(candidate), page, gate.Surface.NOTIFICATION).full:
            found.append(MentionSuggestion(
                handle=candidate.weibo_screen_name,
                name=candidate.display_name or candidate.weibo_screen_name,
                avatar=candidate.weibo_avatar_url,
            ))  # fmt: skip
            if len(found) == MENTION_SUGGESTIONS:
                break
    return found


def visible_comment(*, pk: int, member) -> Comment | None:
    """A comment as a member may address it (own, or published), with its item."""
    return (
        Comment.objects.select_related("page", "member").filter(_visible_to(member), pk=pk).first()
    )


# --- moderation ---------------------------------------------------------------------------------


class QueueFilter:
    ALL = "all"
    HELD = "held"
    REPORTED = "reported"
    FLAGGED = "flagged"
    CHOICES = (ALL, HELD, REPORTED, FLAGGED)


def _open_reports() -> Exists:
    return Exists(
        CommentReport.objects.filter(comment=OuterRef("pk"), state=CommentReport.State.OPEN)
    )


def _queue_conditions() -> dict[str, Q]:
    held = Q(state=State.HELD)
    reported = Q(state=State.PUBLISHED) & Q(has_open_reports=True)
    flagged = Q(state=State.PUBLISHED, flagged=True, decided_at__isnull=True)
    return {
        QueueFilter.HELD: held,
        QueueFilter.REPORTED: reported,
        QueueFilter.FLAGGED: flagged,
        QueueFilter.ALL: held | reported | flagged,
    }


def moderation_queue(*, show: str = QueueFilter.ALL) -> QuerySet[Comment]:
    """Comments waiting for a moderator, oldest first, with their item, author and reports."""
    condition = _queue_conditions().get(show, _queue_conditions()[QueueFilter.ALL])
    open_reports = CommentReport.objects.filter(state=CommentReport.State.OPEN).select_related(
        "reporter"
    )
    return (
        Comment.objects.annotate(has_open_reports=_open_reports())
        .filter(condition)
        .select_related("page", "member", "member__tier", "parent")
        .prefetch_related(Prefetch("reports", queryset=open_reports, to_attr="open_report_list"))
        .order_by("created_at", "pk")
    )


def queue_counts() -> dict[str, int]:
    annotated = Comment.objects.annotate(has_open_reports=_open_reports())
    conditions = _queue_conditions()
    # Aliases must not shadow field names used in the conditions (``flagged``).
    totals = annotated.aggregate(
        **{f"n_{name}": Count("pk", filter=q) for name, q in conditions.items()}
    )
    return {name: totals[f"n_{name}"] for name in conditions}


def comment_for_staff(pk: int) -> Comment | None:
    return (
        Comment.objects.select_related("page", "member", "member__tier", "parent", "decided_by")
        .prefetch_related(
            "revisions__created_by",
            Prefetch(
                "reports",
                queryset=CommentReport.objects.select_related("reporter", "resolved_by").order_by(
                    "created_at", "pk"
                ),
            ),
            "mentions__member",
        )  # fmt: skip
        .filter(pk=pk)
        .first()
    )


def comment_audit_entries(comment: Comment, limit: int = 200) -> list[AuditEntry]:
    """The comment's audit entries, newest first, with their pseudonyms resolved for display."""
    return audit_resolve(
        AuditEntry.objects.filter(
            target_type=Comment._meta.label, target_id=str(comment.pk)
        ).order_by("-id")[:limit]
    )


def keywords_by_hits() -> QuerySet[ModerationKeyword]:
    return ModerationKeyword.objects.order_by("-hits", "word")


@dataclass(frozen=True)
class TextTest:
    """What the keyword rules would do to a text, for the "test this text" box."""

    text: str
    normalised: str
    verdict: moderation.Verdict


def keyword_test(text: str) -> TextTest:
    """Screen ``text`` without counting hits or saving anything."""
    return TextTest(text=text, normalised=moderation.normalised_text(text),
                    verdict=moderation.screen(text))  # fmt: skip


def item_interaction_versions(page, member_id: int) -> list[tuple[str, list]]:
    """``community.hooks.item_version_parts`` entry: what the conversation and likes read
    (comments, their likes and reports, the item's likes, and the member rows whose names
    and handles the comments show)."""
    from community.item_copy import rows_version

    comments = Comment._meta.db_table
    by_comment = f"JOIN {comments} c ON c.id = t.comment_id"
    return [
        rows_version(comments, "t.page_id = %s", [page.pk]),
        rows_version(ItemLike._meta.db_table, "t.page_id = %s", [page.pk]),
        rows_version(CommentLike._meta.db_table, "c.page_id = %s", [page.pk], joins=by_comment),
        rows_version(
            CommentReport._meta.db_table, "c.page_id = %s", [page.pk], joins=by_comment
        ),  # fmt: skip
        rows_version(
            Member._meta.db_table,
            f"t.id IN (SELECT member_id FROM {comments} WHERE page_id = %s UNION "
            f"SELECT m.member_id FROM {CommentMention._meta.db_table} m "
            f"JOIN {comments} c ON c.id = m.comment_id WHERE c.page_id = %s)",
            [page.pk, page.pk],
        ),
    ]
