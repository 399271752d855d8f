"""Moderators deciding on comments: approve, reject (remove when published), censor, restore
what a moderator removed; in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.interaction import moderation
from community.interaction.services.common import (
    DecisionNotApplicable,
    NothingToCensor,
    add_revision,
    clean_reason,
    comment_published,
    comment_taken_down,
    notify_mentions,
    notify_reply,
    tell_author,
)
from community.models_interaction import (
    Comment,
    CommentReport,
    CommentRevision,
    ModerationKeyword,
)
from core.audit import audit_record
from core.errors import DomainError
from members.models import Member

Action = ModerationKeyword.Action
State = Comment.State

# --- moderation decisions -----------------------------------------------------------------------


class StaffDecision:
    """What a moderator can decide about a comment."""

    APPROVE = "approve"
    REJECT = "reject"
    CENSOR = "censor"
    RESTORE = "restore"
    ALL = (APPROVE, REJECT, CENSOR, RESTORE)
    BULK = (APPROVE, REJECT)


class NotRestorable(DecisionNotApplicable):
    code = "not_restorable"
    default_message = gettext_lazy(
        "只能恢复被审核员删除的评论：作者自己删除的评论、已退出会员的评论不能恢复。"
    )


def restorable(comment: Comment) -> bool:
    """A published comment a moderator took down, by an author still in the club.

    What the author deleted themselves stays deleted: it is their word. A departed member's
    comments were erased with them.
    """
    return (
        comment.state == State.REMOVED
        and comment.decided_by_id is not None
        and comment.decided_by_id != comment.member.user_id
        and comment.member.state != Member.State.LEFT
    )


def _close_reports(comment: Comment, *, actor, upheld: bool, now) -> int:
    return comment.reports.filter(state=CommentReport.State.OPEN).update(
        state=CommentReport.State.UPHELD if upheld else CommentReport.State.DISMISSED,
        resolved_by=actor,
        resolved_at=now,
    )


def _decide_locked(
    comment: Comment, *, actor, decision: str, reason: str, censor_text: str, ip: str | None
) -> Comment:
    """Apply one decision to a comment whose row the caller has locked."""
    now = timezone.now()
    open_reports = comment.reports.filter(state=CommentReport.State.OPEN).count()
    # ``comment_body`` is the member's own words: the audit trail keeps it as a pseudonymised
    # value (core.audit), erased with the member.
    before = {"state": comment.state, "comment_body": comment.body, "open_reports": open_reports}
    was_hidden = comment.state != State.PUBLISHED

    if decision == StaffDecision.APPROVE:
        unreviewed_flag = comment.flagged and comment.decided_at is None
        reported = comment.state == State.PUBLISHED and (open_reports or unreviewed_flag)
        if not (comment.state in (State.HELD, State.REJECTED) or reported):
            raise DecisionNotApplicable()
        comment.state = State.PUBLISHED
        action = "comment.approved"
    elif decision == StaffDecision.REJECT:
        if comment.state == State.HELD:
            comment.state = State.REJECTED
            action = "comment.rejected"
        elif comment.state == State.PUBLISHED:
            comment.state = State.REMOVED
            action = "comment.removed_by_moderator"
        else:
            raise DecisionNotApplicable()
    elif decision == StaffDecision.RESTORE:
        if not restorable(comment):
            raise NotRestorable()
        comment.state = State.PUBLISHED
        action = "comment.restored"
    elif decision == StaffDecision.CENSOR:
        if comment.state not in (State.HELD, State.PUBLISHED, State.REJECTED):
            raise DecisionNotApplicable()
        spans = moderation.find(comment.body, moderation.normalised_text(censor_text))
        if not spans:
            raise NothingToCensor()
        comment.body = moderation.mask(comment.body, spans)
        comment.state = State.PUBLISHED
        action = "comment.censored"
    else:
        raise DecisionNotApplicable()

    comment.decided_by = actor
    comment.decided_at = now
    comment.decision_reason = reason
    comment.save(update_fields=["state", "body", "decided_by", "decided_at", "decision_reason"])
    if decision == StaffDecision.CENSOR:
        written = comment.revisions.order_by("-created_at", "-pk").values_list(
            "written", flat=True
        ).first()  # fmt: skip
        add_revision(
            comment, kind=CommentRevision.Kind.CENSORED, written=written or "", user=actor, ip=ip
        )
    upheld = decision not in (StaffDecision.APPROVE, StaffDecision.RESTORE)
    closed = _close_reports(comment, actor=actor, upheld=upheld, now=now)
    audit_record(
        action=action, actor=actor, target=comment, before=before,
        after={"state": comment.state, "comment_body": comment.body, "reports_closed": closed},
        reason=reason, ip=ip,
    )  # fmt: skip
    if was_hidden and comment.state == State.PUBLISHED:
        notify_reply(comment, comment.page)
        notify_mentions(comment, comment.page)
        comment_published(comment)
        if decision == StaffDecision.RESTORE:
            tell_author(comment, title=_("您的评论已恢复显示"), body=reason)
        else:
            tell_author(comment, title=_("您的评论已通过审核"))
    elif comment.state in (State.REJECTED, State.REMOVED):
        tell_author(comment, title=_("您的评论未通过审核"), body=reason)
        comment_taken_down(comment, actor=actor)
    return comment


def _check_decision(decision: str, reason: str, allowed: Iterable[str]) -> str:
    if decision not in allowed:
        raise DomainError(_("请选择通过、驳回或屏蔽。"))
    # Taking something down, changing what a member wrote or undoing a colleague's removal
    # needs a stated reason.
    return clean_reason(reason, required=decision != StaffDecision.APPROVE)


def comment_moderate(
    *,
    comment: Comment,
    actor,
    decision: str,
    reason: str = "",
    censor_text: str = "",
    ip: str | None = None,
) -> Comment:
    """A moderator approves, rejects (removes when published), censors or restores a comment.

    Approving a held comment publishes it, awards its points and notifies the members it
    mentions (and, for a reply, the author it answers); approving a reported one dismisses its
    reports. Rejecting or censoring upholds open reports; removing a comment that earned points
    takes them back (``comment_taken_down``) in the same transaction. Restoring a comment a
    moderator removed (``restorable``) publishes it again as approving does: its points are
    awarded once more, once, and the author is told why.

    Locks: the comment row, then loyalty's member and points account (never the other way).
    """
    reason = _check_decision(decision, reason, StaffDecision.ALL)
    with transaction.atomic():
        comment = (
            Comment.objects.select_for_update(of=("self",))
            .select_related("page", "member")
            .get(pk=comment.pk)
        )
        return _decide_locked(comment, actor=actor, decision=decision, reason=reason,
                              censor_text=censor_text, ip=ip)  # fmt: skip


def comments_moderate_bulk(
    *, comment_ids: Iterable[int], actor, decision: str, reason: str = "", ip: str | None = None
) -> tuple[int, int]:
    """Approve or reject many comments in one transaction: (decided, skipped).

    Comments whose state no longer allows the decision (another moderator was faster) are
    skipped, not failed; each decided comment gets its own audit entry.
    """
    reason = _check_decision(decision, reason, StaffDecision.BULK)
    ids = sorted({int(pk) for pk in comment_ids})
    decided = skipped = 0
    with transaction.atomic():
        comments = (
            Comment.objects.select_for_update(of=("self",))
            .select_related("page", "member")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        for comment in comments:
            try:
                with transaction.atomic():
                    _decide_locked(comment, actor=actor, decision=decision, reason=reason,
                                   censor_text="", ip=ip)  # fmt: skip
            except DecisionNotApplicable:
                skipped += 1
            else:
                decided += 1
        skipped += len(ids) - decided - skipped
    return decided, skipped
