"""Records of a member's rights under PIPL: their data exports and sealed legal-hold copies.

Both point at a file in Django's default storage, which is never served as public media: an
export is only handed out by ``members.views.data_export_download`` to the member it belongs to,
before ``expires_at``; a sealed copy is never handed out by the site at all. Beat removes the
files when their time is up (``members.privacy.files``), the rows stay as the trace of what was
made and when it went.

Models live here rather than in ``members/models.py`` so that module stays about membership;
they are imported at its bottom and belong to the ``members`` app.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

__all__ = ["DataExport", "SealedCopy"]


class DataExport(models.Model):
    """One "download my data" request: built in the background, downloadable for a while.

    ``token`` is the unguessable part of the download link; the download view also checks that
    the signed-in member owns the export, so a forwarded link is useless to anyone else.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("正在生成")
        READY = "ready", _("可以下载")
        FAILED = "failed", _("生成失败")
        EXPIRED = "expired", _("已过期")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT,
        related_name="data_exports",
    )  # fmt: skip
    token = models.CharField(_("下载标识"), max_length=64, unique=True)
    state = models.CharField(
        _("状态"), max_length=10, choices=State.choices, default=State.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0)
    language = models.CharField(_("语言"), max_length=10, default="zh-hans")
    file_name = models.CharField(_("文件"), max_length=200, blank=True)
    size = models.PositiveIntegerField(_("大小（字节）"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    error = models.CharField(_("错误"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("生成时间"), null=True, blank=True)
    expires_at = models.DateTimeField(_("下载截止"), null=True, blank=True, db_index=True)
    downloads = models.PositiveIntegerField(_("下载次数"), default=0)

    class Meta:
        verbose_name = _("个人数据导出")
        verbose_name_plural = _("个人数据导出")
        default_permissions = ()
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A second click while one is being built returns the same export.
            models.UniqueConstraint(
                fields=["member"], condition=Q(state__in=["queued", "running"]),
                name="data_export_one_open_per_member",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="data_export_progress_le_100"
            ),
            models.CheckConstraint(
                condition=~Q(state="ready") | (~Q(file_name="") & Q(expires_at__isnull=False)),
                name="data_export_ready_has_file",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.member_id} {self.created_at:%Y-%m-%d %H:%M} ({self.state})"


class SealedCopy(models.Model):
    """The export of a departing member, encrypted and kept while a legal hold applies.

    Made by ``member_leave`` before anything is erased, only when ``PRIVACY_LEGAL_HOLD_DAYS``
    is above zero; ``sha256`` is the digest of the plaintext zip, so a copy opened for a
    regulator can be shown to be the one sealed. Purged (file deleted, ``purged_at`` set) when
    ``hold_until`` passes.
    """

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+"
    )
    file_name = models.CharField(_("文件"), max_length=200, blank=True)
    size = models.PositiveIntegerField(_("大小（字节）"), default=0)
    sha256 = models.CharField(_("SHA-256（明文）"), max_length=64)
    created_at = models.DateTimeField(_("封存时间"), auto_now_add=True)
    hold_until = models.DateTimeField(_("保存至"), db_index=True)
    purged_at = models.DateTimeField(_("销毁时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("封存副本")
        verbose_name_plural = _("封存副本")
        default_permissions = ()
        constraints = [
            models.CheckConstraint(
                condition=Q(purged_at__isnull=True) | Q(file_name=""),
                name="sealed_copy_purged_has_no_file",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.hold_until:%Y-%m-%d}"
