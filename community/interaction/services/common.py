"""Rules shared by the interaction services: limits, domain errors, the gate check, keyword
bookkeeping, mentions and revisions. Only the services of this package call these helpers."""

from __future__ import annotations

from django.db.models import F
from django.db.models.query import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import gate
from community.interaction import mentions, moderation
from community.models import ActivityPage, GatedPage, PostPage
from community.models_interaction import (
    Comment,
    CommentMention,
    CommentRevision,
    ModerationKeyword,
)
from core.audit import audit_record
from core.errors import DomainError, NotFound, PermissionDenied
from core.events import STAFF_GROUP, publish_on_commit
from core.models import Notification
from core.notifications import notify, written_for
from members.models import Member
from members.selectors import ViewerStatus

Action = ModerationKeyword.Action
State = Comment.State

COMMENTABLE_MODELS = (PostPage, ActivityPage)
MAX_COMMENT_LENGTH = 2000
MAX_REASON_LENGTH = 1000
MAX_MENTIONS = 10


class CommentsNotAllowed(PermissionDenied):
    code = "comments_not_allowed"
    default_message = gettext_lazy("只有能阅读全文的会员才能查看和参与评论。")


class CommentInvalid(DomainError):
    code = "comment_invalid"
    default_message = gettext_lazy("评论不能为空。")


class CommentBlocked(DomainError):
    code = "comment_blocked"
    default_message = gettext_lazy("您的评论包含不允许发布的内容，未能发布。")


class CommentNotEditable(DomainError):
    code = "comment_not_editable"
    default_message = gettext_lazy("这条评论已被处理，不能再修改。")


class NotYourComment(PermissionDenied):
    code = "not_your_comment"
    default_message = gettext_lazy("只能修改或删除自己的评论。")


class ReplyNotAllowed(DomainError):
    code = "reply_not_allowed"
    default_message = gettext_lazy("这条评论目前不能回复。")


class AlreadyReported(DomainError):
    code = "already_reported"
    default_message = gettext_lazy("您已经举报过这条评论，审核员会尽快处理。")


class CannotReportOwn(DomainError):
    code = "cannot_report_own"
    default_message = gettext_lazy("不能举报自己的评论。")


class DecisionNotApplicable(DomainError):
    code = "decision_not_applicable"
    default_message = gettext_lazy("这条评论当前的状态不能进行此操作。")


class ReasonRequired(DomainError):
    code = "reason_required"
    default_message = gettext_lazy("请填写处理原因。")


class NothingToCensor(DomainError):
    code = "nothing_to_censor"
    default_message = gettext_lazy("评论中没有找到要屏蔽的文字。")


# --- helpers ------------------------------------------------------------------------------------


def viewer_of(member: Member) -> ViewerStatus:
    return ViewerStatus(member.state, tier=member.tier, member=member)


def is_commentable(page) -> bool:
    return issubclass(page.specific_class or GatedPage, COMMENTABLE_MODELS)


def require_full_access(member: Member, page) -> None:
    """Comments are gated content: only members who may read the whole item take part."""
    if not is_commentable(page):
        raise CommentsNotAllowed(_("这类内容不开放评论。"))
    decision = gate.decide(viewer_of(member), page, gate.Surface.PAGE)
    if not decision.visible:
        raise NotFound()
    if not (member.is_admitted and decision.full):
        raise CommentsNotAllowed()


def clean_text(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not moderation.normalised_text(body):
        raise CommentInvalid()
    if len(body) > MAX_COMMENT_LENGTH:
        raise CommentInvalid(
            _("评论最多 %(limit)s 个字，现在有 %(count)s 个字。")
            % {"limit": MAX_COMMENT_LENGTH, "count": len(body)}
        )
    return body


def clean_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()[:MAX_REASON_LENGTH]
    if required and not reason:
        raise ReasonRequired()
    return reason


def count_hits(verdict: moderation.Verdict) -> None:
    if verdict.rule_ids:
        ModerationKeyword.objects.filter(pk__in=verdict.rule_ids).update(
            hits=F("hits") + 1, last_hit_at=timezone.now()
        )


def blocked_error(verdict: moderation.Verdict) -> CommentBlocked:
    match = verdict.decisive
    message = _("您的评论包含不允许发布的词语「%(word)s」，未能发布。请修改后再试。") % {
        "word": match.written
    }
    if match.rule.note:
        message += _("（规则：%(note)s）") % {"note": match.rule.note}
    return CommentBlocked(message, word=match.rule.word)


def item_ref(page) -> dict:
    return {"page_id": page.pk, "page_title": page.title, "url": page.url or ""}


def automatic_decision(
    *, comment: Comment, page, verdict: moderation.Verdict, ip: str | None
) -> None:
    """Audit what the keywords did to a saved comment and alert moderators when they must look."""
    action = verdict.action
    if not action:
        return
    audit_record(
        action=f"comment.auto_{action}",
        target=comment,
        after={"state": comment.state, "keywords": verdict.words, "page_id": page.pk},
        rule=verdict.rule_label,
        ip=ip,
    )
    if action in (Action.HOLD, Action.FLAG):
        publish_on_commit(
            STAFF_GROUP,
            {"type": f"comment.{'held' if action == Action.HOLD else 'flagged'}",
             "comment_id": comment.pk, "keywords": verdict.words, **item_ref(page)},
        )  # fmt: skip


def _resolve_mentions(body: str, page, author: Member) -> list[Member]:
    """Admitted members named by @handle in ``body`` who may read the whole item (never the
    author). Handles are unique (``members.handles``); display names are never matched."""
    named = mentions.handles_in(body)[:MAX_MENTIONS]
    if not named:
        return []
    candidates = {
        member.mention_handle: member
        for member in Member.objects.filter(
            state=Member.State.MEMBER, mention_handle__in=mentions.prefixes(named)
        )
        .exclude(pk=author.pk)
        .select_related("tier")
    }
    wanted = {mentions.longest_match(token, candidates) for token in named} - {None}
    prefetch_related_objects([page], "tiers")
    return [
        candidates[handle]
        for handle in sorted(wanted)
        if gate.decide(viewer_of(candidates[handle]), page, gate.Surface.NOTIFICATION).full
    ]


def store_mentions(comment: Comment, page, author: Member) -> None:
    existing = set(comment.mentions.values_list("member_id", flat=True))
    CommentMention.objects.bulk_create(
        [
            CommentMention(comment=comment, member=member)
            for member in _resolve_mentions(comment.body, page, author)
            if member.pk not in existing
        ],
        ignore_conflicts=True,
    )


def _replied_member(comment: Comment) -> Member | None:
    """The author of the comment ``comment`` replies to, unless that is its own author."""
    if not comment.parent_id:
        return None
    parent = Comment.objects.select_related("member__tier").get(pk=comment.parent_id)
    if parent.member_id == comment.member_id:
        return None
    return parent.member


def notify_mentions(comment: Comment, page, *, since=None) -> None:
    """Tell mentioned members, once the comment is visible to them (after commit).

    The member a reply answers hears of it once, as a reply (``notify_reply``), even when the
    reply also names them.
    """
    rows = comment.mentions.select_related("member")
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    replied = _replied_member(comment)
    if replied is not None:
        rows = rows.exclude(member_id=replied.pk)
    author = str(comment.member)
    for mention in rows:
        # Mentions exist only for members who may read the whole item (see _resolve_mentions).
        with written_for(mention.member.language):
            notify(
                user_id=mention.member.user_id, kind=Notification.Kind.COMMENT_MENTION,
                title=_("%(who)s 在「%(item)s」中提到了您") % {"who": author, "item": page.title},
                body=comment.body[:140], link=f"{page.url or ''}#comment-{comment.pk}",
                dedupe_key=f"mention:{comment.pk}",
            )  # fmt: skip


def notify_reply(comment: Comment, page) -> None:
    """Tell the author of the comment a visible reply answers (never oneself), once per reply.

    Called when the reply becomes visible to others: at once when it is published, or when a
    moderator approves it. The author must still be an admitted member who may read the whole
    item (the gate, as for mentions); muted replies and a second call write nothing
    (``notify``'s preference check and dedupe key). The push goes out after commit.
    """
    replied = _replied_member(comment)
    if replied is None or replied.state != Member.State.MEMBER:
        return
    if not gate.decide(viewer_of(replied), page, gate.Surface.NOTIFICATION).full:
        return
    with written_for(replied.language):
        notify(
            user_id=replied.user_id, kind=Notification.Kind.COMMENT_REPLY,
            title=_("%(who)s 在「%(item)s」中回复了您的评论")
            % {"who": str(comment.member), "item": page.title},
            body=comment.body[:140], link=f"{page.url or ''}#comment-{comment.pk}",
            dedupe_key=f"reply:{comment.pk}",
        )  # fmt: skip


def add_revision(comment: Comment, *, kind: str, written: str, user, ip: str | None) -> None:
    CommentRevision.objects.create(
        comment=comment, kind=kind, written=written, shown=comment.body, state=comment.state,
        created_by=user, ip=ip,
    )  # fmt: skip


COMMENT_TRIGGER = "comment_approved"


def _points_key(comment: Comment) -> str:
    return f"comment:{comment.pk}"


def comment_published(comment: Comment) -> None:
    """A comment became visible: the loyalty rule for comments awards its points, once.

    Once per *round*: a comment whose points were taken back when it was removed earns them
    again if a moderator approves it later (``loyalty.services.points_event_key``).
    Precondition: the caller holds the comment's row lock (or created the row), which keeps two
    decisions on one comment from opening the same round; loyalty's locks (member, then
    points account) come after it.
    """
    from loyalty.services import points_award_for_event, points_event_key

    points_award_for_event(
        member=comment.member,
        trigger=COMMENT_TRIGGER,
        natural_key=points_event_key(trigger=COMMENT_TRIGGER, natural_key=_points_key(comment)),
        reference=comment,
    )


def comment_taken_down(comment: Comment, *, actor) -> None:
    """A comment that may have earned points stopped being visible for good (removed by its
    author or a moderator, or rejected after an edit held it): take the points back.

    Loyalty writes compensating entries (never edits the award) in this transaction, tells the
    member after commit, and does nothing when the comment earned nothing or was already
    compensated. Precondition as for ``comment_published``.
    """
    from loyalty.services import points_reverse_for_event

    points_reverse_for_event(
        member=comment.member,
        trigger=COMMENT_TRIGGER,
        natural_key=_points_key(comment),
        reason=(
            _("评论已删除：%(item)s")
            if comment.state == State.REMOVED
            else _("评论未通过审核：%(item)s")
        )
        % {"item": comment.page.title},
        actor=actor,
    )


def tell_author(comment: Comment, *, title: str, body: str = "") -> None:
    notify(
        user_id=comment.member.user_id,
        kind=Notification.Kind.MODERATION,
        title=title,
        body=body,
        link=f"{comment.page.url or ''}#comment-{comment.pk}",
    )
