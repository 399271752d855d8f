"""Infrastructure tasks."""

from __future__ import annotations

import socket
import uuid

from celery import shared_task

from core.audit import audit_checkpoint, audit_seal
from core.models import WorkerHeartbeat
from core.reports.tasks import fill_report_days  # noqa: F401 - registers the task


@shared_task(name="core.tasks.record_worker_heartbeat")
def record_worker_heartbeat(token: str | None = None) -> str:
    """Record that a worker executed a task; idempotent by ``token``."""
    token = token or uuid.uuid4().hex
    WorkerHeartbeat.objects.get_or_create(token=token, defaults={"worker": socket.gethostname()})
    return token


@shared_task(name="core.audit_seal", ignore_result=True)
def seal_audit_trail() -> int:
    """Chain the audit entries of ended transactions (beat, every few seconds); a run that finds
    another sealer at work returns at once."""
    return audit_seal(wait=False)


@shared_task(name="core.audit_checkpoint", ignore_result=True)
def write_audit_checkpoint() -> int:
    """Write a signed checkpoint of the audit chain outside the database (beat, every few
    minutes); nothing when the chain has not moved. Returns the length it covers (0: none)."""
    checkpoint = audit_checkpoint()
    return checkpoint["sealed"] if checkpoint else 0
