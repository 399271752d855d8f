"""Business actions of member interaction: comments, replies, mentions, likes, reports, and the
moderation decisions taken on comments.

Invariants:

- Only a member whose gate decision for the item is FULL may write anything here (comment,
  reply, edit, like, report). Every service asks ``gate.decide`` itself, whatever the view
  already checked: comments are part of an item's gated content.
- Nothing a member wrote is destroyed. Each version is a ``CommentRevision`` (what the member
  wrote and what is shown); rejection and removal only change the state and record who, when
  and why.
- Every moderation decision, automatic (keyword block, hold, censor, flag) or by staff (approve,
  reject, censor), writes an audit entry in the same transaction.
- Notifications (mentions to members, alerts to moderators) go out after commit, and a mention
  only once the comment is visible to others.

Locking: a decision on a comment locks its row (``select_for_update``) before checking its
state; bulk decisions lock all their rows in primary-key order, so two moderators working on
overlapping selections cannot deadlock or decide one comment twice.
"""

from community.interaction.services.comments import (
    comment_create,
    comment_edit,
    comment_like_toggle,
    comment_report,
    comment_withdraw,
    item_like_toggle,
)
from community.interaction.services.common import (
    COMMENTABLE_MODELS,
    MAX_COMMENT_LENGTH,
    AlreadyReported,
    CannotReportOwn,
    CommentBlocked,
    CommentInvalid,
    CommentNotEditable,
    CommentsNotAllowed,
    DecisionNotApplicable,
    NothingToCensor,
    NotYourComment,
    ReasonRequired,
    ReplyNotAllowed,
    is_commentable,
    viewer_of,
)
from community.interaction.services.decisions import (
    NotRestorable,
    StaffDecision,
    comment_moderate,
    comments_moderate_bulk,
    restorable,
)

__all__ = [
    "COMMENTABLE_MODELS",
    "MAX_COMMENT_LENGTH",
    "AlreadyReported",
    "CannotReportOwn",
    "CommentBlocked",
    "CommentInvalid",
    "CommentNotEditable",
    "CommentsNotAllowed",
    "DecisionNotApplicable",
    "NotRestorable",
    "NotYourComment",
    "NothingToCensor",
    "ReasonRequired",
    "ReplyNotAllowed",
    "StaffDecision",
    "comment_create",
    "comment_edit",
    "comment_like_toggle",
    "comment_moderate",
    "comment_report",
    "comment_withdraw",
    "comments_moderate_bulk",
    "is_commentable",
    "restorable",
    "item_like_toggle",
    "viewer_of",
]
