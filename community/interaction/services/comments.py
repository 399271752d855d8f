"""Members writing: comments, replies, edits, taking a comment down, likes, reports."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.interaction import moderation
from community.interaction.services.common import (
    AlreadyReported,
    CannotReportOwn,
    CommentNotEditable,
    NotYourComment,
    ReplyNotAllowed,
    add_revision,
    automatic_decision,
    blocked_error,
    clean_reason,
    clean_text,
    comment_published,
    comment_taken_down,
    count_hits,
    item_ref,
    notify_mentions,
    notify_reply,
    require_full_access,
    store_mentions,
)
from community.models import GatedPage
from community.models_interaction import (
    Comment,
    CommentLike,
    CommentReport,
    CommentRevision,
    ItemLike,
    ModerationKeyword,
)
from core.audit import audit_record
from core.errors import DomainError, NotFound
from core.events import STAFF_GROUP, publish_on_commit
from members.models import Member

Action = ModerationKeyword.Action
State = Comment.State

# --- comments -----------------------------------------------------------------------------------


def comment_create(
    *,
    member: Member,
    page: GatedPage,
    body: str,
    parent: Comment | None = None,
    ip: str | None = None,
) -> Comment:
    """Publish, hold or censor a member's comment as the keywords say; raise when blocked.

    A blocked comment is not saved, but the block is: the keyword hits and an audit entry commit
    before ``CommentBlocked`` is raised. A reply to a reply attaches to the top-level comment.
    """
    body = clean_text(body)
    blocked: moderation.Verdict | None = None
    with transaction.atomic():
        require_full_access(member, page)
        if parent is not None:
            parent = parent.parent if parent.parent_id else parent
            visible = parent.state == State.PUBLISHED or parent.member_id == member.pk
            if parent.page_id != page.pk or not visible or parent.state == State.REMOVED:
                raise ReplyNotAllowed()
        verdict = moderation.screen(body)
        count_hits(verdict)
        if verdict.action == Action.BLOCK:
            audit_record(
                action="comment.auto_block",
                target=page,
                after={"member_id": member.pk, "keywords": verdict.words},
                rule=verdict.rule_label,
                ip=ip,
            )
            blocked = verdict
        else:
            comment = Comment.objects.create(
                page_id=page.pk, member=member, parent=parent, body=verdict.shown,
                state=State.HELD if verdict.action == Action.HOLD else State.PUBLISHED,
                moderation_action=verdict.action, matched_keywords=verdict.words,
                flagged=verdict.action == Action.FLAG,
            )  # fmt: skip
            add_revision(
                comment, kind=CommentRevision.Kind.CREATED, written=body, user=member.user, ip=ip
            )
            store_mentions(comment, page, member)
            automatic_decision(comment=comment, page=page, verdict=verdict, ip=ip)
            if comment.state == State.PUBLISHED:
                notify_reply(comment, page)
                notify_mentions(comment, page)
                comment_published(comment)
    if blocked is not None:
        raise blocked_error(blocked)
    return comment


def comment_edit(*, member: Member, comment: Comment, body: str, ip: str | None = None) -> Comment:
    """Replace the text of one's own comment, keeping the old version as a revision.

    The new text is screened like a new comment. A held comment stays held (a moderator may be
    looking at it); a published one is held again if the new text needs review.
    """
    body = clean_text(body)
    blocked: moderation.Verdict | None = None
    with transaction.atomic():
        comment = (
            Comment.objects.select_for_update(of=("self",))
            .select_related("page", "member__tier")
            .get(pk=comment.pk)
        )
        if comment.member_id != member.pk:
            raise NotYourComment()
        require_full_access(member, comment.page)
        if comment.state not in (State.PUBLISHED, State.HELD):
            raise CommentNotEditable()
        verdict = moderation.screen(body)
        count_hits(verdict)
        if verdict.action == Action.BLOCK:
            audit_record(
                action="comment.auto_block",
                target=comment,
                after={"member_id": member.pk, "keywords": verdict.words},
                rule=verdict.rule_label,
                ip=ip,
            )
            blocked = verdict
        else:
            now = timezone.now()
            was_published = comment.state == State.PUBLISHED
            comment.body = verdict.shown
            if verdict.action == Action.HOLD:
                comment.state = State.HELD
            comment.moderation_action = verdict.action
            comment.matched_keywords = verdict.words
            comment.flagged = comment.flagged or verdict.action == Action.FLAG
            comment.edited_at = now
            comment.save(update_fields=["body", "state", "moderation_action", "matched_keywords",
                                        "flagged", "edited_at"])  # fmt: skip
            add_revision(
                comment, kind=CommentRevision.Kind.EDITED, written=body, user=member.user, ip=ip
            )
            store_mentions(comment, comment.page, member)
            automatic_decision(comment=comment, page=comment.page, verdict=verdict, ip=ip)
            if was_published and comment.state == State.PUBLISHED:
                notify_mentions(comment, comment.page, since=now)
    if blocked is not None:
        raise blocked_error(blocked)
    return comment


def comment_withdraw(
    *, member: Member, comment: Comment, reason: str = "", ip: str | None = None
) -> Comment:
    """The author takes a comment down. Soft: the row, its text and its history stay.

    Points the comment earned are taken back in the same transaction (``comment_taken_down``):
    posting and deleting must not be a way to collect points. Locks: the comment row, then
    loyalty's member and points account.
    """
    with transaction.atomic():
        comment = (
            Comment.objects.select_for_update(of=("self",))
            .select_related("page")
            .get(pk=comment.pk)
        )
        if comment.member_id != member.pk:
            raise NotYourComment()
        if comment.state == State.REMOVED:
            return comment
        before = {"state": comment.state}
        comment.state = State.REMOVED
        comment.decided_by = member.user
        comment.decided_at = timezone.now()
        comment.decision_reason = clean_reason(reason, required=False) or _("作者删除")
        comment.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            action="comment.removed_by_author", actor=member.user, target=comment,
            before=before, after={"state": comment.state}, reason=comment.decision_reason, ip=ip,
        )  # fmt: skip
        comment_taken_down(comment, actor=member.user)
    return comment


# --- likes and reports --------------------------------------------------------------------------


def _toggle(model, **lookup) -> bool:
    deleted, _counts = model.objects.filter(**lookup).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            model.objects.create(**lookup)
    except IntegrityError:
        pass  # a parallel request of the same member liked it first: it is liked either way
    return True


def comment_like_toggle(*, member: Member, comment: Comment) -> bool:
    """Like or un-like a published comment; True when it is liked afterwards."""
    with transaction.atomic():
        comment = Comment.objects.select_related("page").get(pk=comment.pk)
        require_full_access(member, comment.page)
        if comment.state != State.PUBLISHED:
            raise NotFound()
        return _toggle(CommentLike, comment=comment, member=member)


def item_like_toggle(*, member: Member, page: GatedPage) -> bool:
    """Like or un-like an item; True when it is liked afterwards."""
    with transaction.atomic():
        require_full_access(member, page)
        return _toggle(ItemLike, page_id=page.pk, member=member)


def comment_report(
    *, member: Member, comment: Comment, reason: str, detail: str = "", ip: str | None = None
) -> CommentReport:
    """Send a published comment to the moderation queue; one report per member and comment."""
    if reason not in CommentReport.Reason.values:
        raise DomainError(_("请选择举报原因。"))
    with transaction.atomic():
        comment = Comment.objects.select_related("page").get(pk=comment.pk)
        require_full_access(member, comment.page)
        if comment.state != State.PUBLISHED:
            raise NotFound()
        if comment.member_id == member.pk:
            raise CannotReportOwn()
        try:
            with transaction.atomic():
                report = CommentReport.objects.create(
                    comment=comment, reporter=member, reason=reason,
                    detail=(detail or "").strip()[:500],
                )  # fmt: skip
        except IntegrityError:
            raise AlreadyReported() from None
        publish_on_commit(
            STAFF_GROUP,
            {"type": "comment.reported", "comment_id": comment.pk, "report_id": report.pk,
             "reason": reason, **item_ref(comment.page)},
        )  # fmt: skip
    return report
