"""Activity photo walls: members' own pictures from the events they attended.

Invariants (``community.photos.services`` is the only writer):

- Only a member checked in at the activity (their ``Registration`` is ``attended``) posts, up
  to the activity's per-member limit, until the wall closes some days after the event. The
  limit is checked with the member row locked, so two uploads at once cannot both take the
  last place.
- The file a member sends is kept only as an unprocessed original under a private prefix of
  the media storage until a worker has decoded and re-encoded it (``community.photos.images``);
  then it is deleted. What is ever served is the re-encoded copy and its thumbnail, pixels only
  (no EXIF, no GPS), through a view that asks the gate: never a public media URL.
- Nothing is destroyed by moderation: rejection and removal change ``state`` and record who,
  when and why (and the audit trail has the rest). A member withdrawing their own photo, and a
  member leaving the club, delete its files.
- A photo appears on the activity's public teaser only when staff featured it *and* the member
  agreed to that when posting (``public_consent``, off by default).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

__all__ = ["ActivityPhoto", "PhotoReport"]


class ActivityPhoto(models.Model):
    class State(models.TextChoices):
        PROCESSING = "processing", _("处理中")
        FAILED = "failed", _("无法处理")
        HELD = "held", _("待审核")
        PUBLISHED = "published", _("已发布")
        REJECTED = "rejected", _("未通过审核")
        REMOVED = "removed", _("已被审核员移除")
        WITHDRAWN = "withdrawn", _("已被作者删除")

    activity = models.ForeignKey(
        "community.ActivityPage", verbose_name=_("活动"), on_delete=models.PROTECT,
        related_name="photos",
    )  # fmt: skip
    member = models.ForeignKey(
        "members.Member", verbose_name=_("作者"), on_delete=models.PROTECT,
        related_name="activity_photos",
    )  # fmt: skip
    # Names in the media storage. ``original_name`` is the member's file as sent, under a
    # private prefix, until processing ends; the others are the re-encoded copies.
    original_name = models.CharField(max_length=200, blank=True)
    image_name = models.CharField(max_length=200, blank=True)
    thumb_name = models.CharField(max_length=200, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    caption = models.CharField(_("说明"), max_length=200, blank=True)  # as shown (censored)
    caption_written = models.CharField(_("作者写的说明"), max_length=200, blank=True)
    public_consent = models.BooleanField(_("同意在活动公开预告中展示"), default=False)
    featured = models.BooleanField(_("精选"), default=False)
    state = models.CharField(
        _("状态"), max_length=12, choices=State.choices, default=State.PROCESSING
    )
    progress = models.PositiveSmallIntegerField(_("处理进度"), default=0)
    error = models.CharField(_("处理失败原因"), max_length=300, blank=True)
    moderation_action = models.CharField(_("关键词处理"), max_length=10, blank=True)
    matched_keywords = models.JSONField(_("命中的敏感词"), default=list, blank=True)
    flagged = models.BooleanField(_("已提醒审核员"), default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("处理人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_reason = models.TextField(_("处理原因"), blank=True)
    upload_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("上传时间"), default=timezone.now)
    processed_at = models.DateTimeField(_("处理完成时间"), null=True, blank=True)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("活动照片")
        verbose_name_plural = _("活动照片")
        default_permissions = ("view", "change")
        indexes = [
            models.Index(fields=["activity", "state", "-published_at"], name="photo_wall_idx"),
            models.Index(fields=["member", "activity"], name="photo_member_idx"),
            models.Index(fields=["state", "created_at"], name="photo_queue_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["processing", "failed", "held", "published", "rejected",
                                       "removed", "withdrawn"]),
                name="photo_state_valid",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="photo_progress_le_100"),
            models.CheckConstraint(condition=~Q(upload_key=""), name="photo_upload_key_set"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return gettext("照片 #%(pk)s") % {"pk": self.pk}

    @property
    def ready(self) -> bool:
        return bool(self.image_name) and self.state not in (
            self.State.PROCESSING, self.State.FAILED, self.State.WITHDRAWN
        )  # fmt: skip

    @property
    def on_teaser(self) -> bool:
        """Shown on the activity's public teaser: featured by staff, agreed by the member."""
        return self.featured and self.public_consent and self.state == self.State.PUBLISHED


class PhotoReport(models.Model):
    """A member telling moderators about a photo; closed by a moderation decision."""

    class State(models.TextChoices):
        OPEN = "open", _("待处理")
        UPHELD = "upheld", _("已处理（举报成立）")
        DISMISSED = "dismissed", _("已处理（未发现问题）")

    photo = models.ForeignKey(
        ActivityPhoto, verbose_name=_("照片"), on_delete=models.CASCADE, related_name="reports"
    )
    reporter = models.ForeignKey(
        "members.Member", verbose_name=_("举报人"), on_delete=models.PROTECT,
        related_name="photo_reports",
    )  # fmt: skip
    reason = models.CharField(_("举报原因"), max_length=10)
    detail = models.TextField(_("补充说明"), blank=True, max_length=500)
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.OPEN, db_index=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("处理人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("举报时间"), default=timezone.now)

    class Meta:
        verbose_name = _("照片举报")
        verbose_name_plural = _("照片举报")
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["photo", "reporter"], name="photo_report_once_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.photo_id}: {self.reason}"

    @property
    def reason_label(self) -> str:
        """The same reasons as comment reports (``CommentReport.Reason``)."""
        from community.models_interaction import CommentReport

        return str(dict(CommentReport.Reason.choices).get(self.reason, self.reason))
