"""Operational records shared by all apps: worker heartbeats and the audit trail."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """One row per heartbeat a Celery worker ran.

    Beat schedules a heartbeat every minute; ``/healthz`` reports the age of the newest one,
    which tells operators whether tasks are actually being executed, not merely enqueued.
    """

    token = models.CharField(_("标识"), max_length=64, unique=True)
    worker = models.CharField(_("执行者"), max_length=200)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("任务心跳")
        verbose_name_plural = _("任务心跳")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.worker} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditEntry(models.Model):
    """Append-only record of a staff action or an automated decision (see ``core.audit``)."""

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    action = models.CharField(_("操作"), max_length=80, db_index=True)
    actor = models.ForeignKey(
        "auth.User", verbose_name=_("操作人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    actor_label = models.CharField(_("操作人（记录时）"), max_length=150)
    target_type = models.CharField(_("对象类型"), max_length=100, blank=True, db_index=True)
    target_id = models.CharField(_("对象编号"), max_length=64, blank=True, db_index=True)
    target_label = models.CharField(_("对象"), max_length=200, blank=True)
    before = models.JSONField(_("修改前"), default=dict, blank=True)
    after = models.JSONField(_("修改后"), default=dict, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    entry_hash = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def payload(self) -> dict:
        return {
            "id": self.pk,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "action": self.action,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_label": self.target_label,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "ip": self.ip,
        }

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are never deleted")
