"""Operational records shared by all apps."""

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
