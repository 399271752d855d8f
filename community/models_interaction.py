"""Member interaction on items: comments, replies, mentions, likes, reports, keyword moderation.

Invariants (enforced by ``community.interaction.services``, the only writer):

- Nothing a member wrote is destroyed. Every version of a comment, as written and as shown, is a
  ``CommentRevision`` row; rejection and removal only change ``Comment.state`` and record who,
  when and why. Comments, revisions and reports are protected from deletion (``PROTECT``) and
  carry no delete permission.
- ``Comment.body`` is what other members are shown (after censoring); the member's own words are
  in the revisions.
- Likes are toggles: one row per member and comment, one per member and item (unique
  constraints), deleted when the member takes the like back.
- Keyword hits are counted with ``F()`` updates, never read-modify-write.

Models live here rather than in ``community/models.py`` so the page models stay readable; they
are imported at the bottom of that module and belong to the ``community`` app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel

__all__ = [
    "Comment",
    "CommentLike",
    "CommentMention",
    "CommentReport",
    "CommentRevision",
    "ItemLike",
    "ModerationKeyword",
]


class ModerationKeyword(models.Model):
    """A word staff do not want in comments, and what happens when a comment contains it.

    Matching is on substrings of normalised text (see ``community.interaction.moderation``), so
    the normalised form of the word is kept, and kept unique: two spellings that normalise alike
    would be the same rule.
    """

    class Action(models.TextChoices):
        BLOCK = "block", _("拦截（不发布，提示作者）")
        HOLD = "hold", _("先审后发（审核通过后才显示）")
        CENSOR = "censor", _("替换为＊后发布")
        FLAG = "flag", _("发布并提醒审核员")

    word = models.CharField(_("敏感词"), max_length=100)
    normalised = models.CharField(_("规范化形式"), max_length=200, unique=True, editable=False)
    action = models.CharField(_("处理方式"), max_length=10, choices=Action.choices)
    note = models.CharField(
        _("规则说明"), max_length=200, blank=True,
        help_text=_("拦截时会告诉作者这条说明，例如“禁止发布联系方式”。"),
    )  # fmt: skip
    hits = models.PositiveIntegerField(_("命中次数"), default=0, editable=False)
    last_hit_at = models.DateTimeField(_("最近命中"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    panels = [FieldPanel("word"), FieldPanel("action"), FieldPanel("note")]

    class Meta:
        verbose_name = _("敏感词")
        verbose_name_plural = _("敏感词")
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word

    def save(self, *args, **kwargs):
        from community.interaction.moderation import normalised_text

        # A derived column: it must follow the word whichever form saved it.
        self.normalised = normalised_text(self.word)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "word" in update_fields:
            kwargs["update_fields"] = {*update_fields, "normalised"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from community.interaction.moderation import normalised_text

        self.normalised = normalised_text(self.word)
        if not self.normalised:
            raise ValidationError({"word": _("敏感词去掉空白后不能为空。")})
        if (
            ModerationKeyword.objects.filter(normalised=self.normalised)
            .exclude(pk=self.pk)
            .exists()
        ):
            raise ValidationError({"word": _("已经有一个规范化后相同的敏感词。")})


class Comment(models.Model):
    """A member's comment on an item, or a reply to one (one level: replies have no replies)."""

    class State(models.TextChoices):
        PUBLISHED = "published", _("已发布")
        HELD = "held", _("待审核")
        REJECTED = "rejected", _("未通过审核")
        REMOVED = "removed", _("已删除")

    page = models.ForeignKey(
        "community.GatedPage", verbose_name=_("内容"), on_delete=models.PROTECT,
        related_name="comments",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("作者"), on_delete=models.PROTECT,
        related_name="comments",
    )  # fmt: skip
    parent = models.ForeignKey(
        "self", verbose_name=_("回复的评论"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="replies",
    )  # fmt: skip
    body = models.TextField(_("显示的内容"))
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.PUBLISHED, db_index=True
    )
    moderation_action = models.CharField(
        _("关键词处理"), max_length=10, choices=ModerationKeyword.Action.choices, blank=True
    )
    matched_keywords = models.JSONField(_("命中的敏感词"), default=list, blank=True)
    flagged = models.BooleanField(_("已提醒审核员"), default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("处理人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_reason = models.TextField(_("处理原因"), blank=True)
    created_at = models.DateTimeField(_("发表时间"), auto_now_add=True)
    edited_at = models.DateTimeField(_("修改时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("评论")
        verbose_name_plural = _("评论")
        # Comments are never deleted: moderators change them, nobody removes rows.
        default_permissions = ("view", "change")
        indexes = [
            models.Index(fields=["page", "parent", "state", "created_at"]),
            models.Index(fields=["state", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["published", "held", "rejected", "removed"]),
                name="comment_state_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("pk")), name="comment_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return gettext("评论 #%(pk)s") % {"pk": self.pk}


class CommentRevision(models.Model):
    """One version of a comment: what its author wrote and what was shown (append-only)."""

    class Kind(models.TextChoices):
        CREATED = "created", _("发表")
        EDITED = "edited", _("作者修改")
        CENSORED = "censored", _("审核员屏蔽")

    comment = models.ForeignKey(
        Comment, verbose_name=_("评论"), on_delete=models.PROTECT, related_name="revisions"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices)
    written = models.TextField(_("作者写的内容"))
    shown = models.TextField(_("显示的内容"))
    state = models.CharField(_("当时的状态"), max_length=10, choices=Comment.State.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评论修改记录")
        verbose_name_plural = _("评论修改记录")
        default_permissions = ("view",)
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.comment_id} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class CommentMention(models.Model):
    """A member named with @ in a comment, resolved among members who may read the item."""

    comment = models.ForeignKey(
        Comment, verbose_name=_("评论"), on_delete=models.PROTECT, related_name="mentions"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("被提到的会员"), on_delete=models.PROTECT,
        related_name="comment_mentions",
    )  # fmt: skip
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评论中的提及")
        verbose_name_plural = _("评论中的提及")
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["comment", "member"], name="mention_once_per_comment")
        ]

    def __str__(self) -> str:
        return f"{self.comment_id} → {self.member_id}"


class CommentLike(models.Model):
    comment = models.ForeignKey(
        Comment, verbose_name=_("评论"), on_delete=models.PROTECT, related_name="likes"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="comment_likes",
    )  # fmt: skip
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评论点赞")
        verbose_name_plural = _("评论点赞")
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["comment", "member"], name="comment_like_once")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ♥ {self.comment_id}"


class ItemLike(models.Model):
    page = models.ForeignKey(
        "community.GatedPage", verbose_name=_("内容"), on_delete=models.CASCADE,
        related_name="likes",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="item_likes",
    )  # fmt: skip
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("内容点赞")
        verbose_name_plural = _("内容点赞")
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["page", "member"], name="item_like_once")]

    def __str__(self) -> str:
        return f"{self.member_id} ♥ {self.page_id}"


class CommentReport(models.Model):
    """A member telling moderators about a comment; closed by a moderation decision."""

    class Reason(models.TextChoices):
        SPAM = "spam", _("广告或垃圾信息")
        ABUSE = "abuse", _("辱骂、骚扰或人身攻击")
        ILLEGAL = "illegal", _("违法或不良信息")
        PRIVACY = "privacy", _("泄露他人隐私")
        OTHER = "other", _("其他")

    class State(models.TextChoices):
        OPEN = "open", _("待处理")
        UPHELD = "upheld", _("已处理（举报成立）")
        DISMISSED = "dismissed", _("已处理（未发现问题）")

    comment = models.ForeignKey(
        Comment, verbose_name=_("评论"), on_delete=models.PROTECT, related_name="reports"
    )
    reporter = models.ForeignKey(
        "members.Member", verbose_name=_("举报人"), on_delete=models.PROTECT,
        related_name="comment_reports",
    )  # fmt: skip
    reason = models.CharField(_("举报原因"), max_length=10, choices=Reason.choices)
    detail = models.TextField(_("补充说明"), blank=True, max_length=500)
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.OPEN, db_index=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("处理人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("举报时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评论举报")
        verbose_name_plural = _("评论举报")
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["comment", "reporter"], name="report_once_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.comment_id}: {self.reason}"
