"""Background work of the members app: thin wrappers around services, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from core import crypto

logger = logging.getLogger(__name__)


@shared_task(name="members.revoke_weibo_token", bind=True, max_retries=8, acks_late=True)
def revoke_weibo_token(self, token_ciphertext: str) -> str:
    """Revoke a departed member's token at Weibo; retried while Weibo is unreachable."""
    from members.weibo import client as weibo

    token = crypto.decrypt(token_ciphertext)
    if not token:
        return "undecryptable"
    try:
        weibo.revoke_token(access_token=token)
    except weibo.WeiboError as error:
        if error.is_token_error:
            return "already-invalid"  # revoked or expired already: the goal is reached
        raise self.retry(exc=error, countdown=min(2**self.request.retries * 10, 1800)) from error
    except Exception as error:  # noqa: BLE001 - network errors: retry with backoff
        raise self.retry(exc=error, countdown=min(2**self.request.retries * 10, 1800)) from error
    return "revoked"


@shared_task(name="members.run_customer_import", acks_late=True)
def run_customer_import(import_id: int) -> str:
    from members.services import customer_import_run

    return customer_import_run(import_id=import_id).state


@shared_task(name="members.classify_segments", acks_late=True)
def classify_segments() -> dict:
    """Nightly: segments and zombie flags of every member (idempotent; see members.segments)."""
    from members.segments import segments_classify

    result = segments_classify()
    logger.info("segments classified: %s", result)
    return result


@shared_task(name="members.notify_segment", acks_late=True)
def notify_segment(entry_id: int) -> int:
    """Deliver a staff message to a segment; each member gets it once however often this runs."""
    from members.segments import segment_notify_deliver

    return segment_notify_deliver(entry_id=entry_id)


@shared_task(name="members.warn_expiring_tokens", acks_late=True)
def warn_expiring_tokens() -> int:
    """Daily: members whose Weibo authorisation ends within a week are told, once per expiry."""
    from members.services import weibo_tokens_warn_expiring

    return weibo_tokens_warn_expiring()


@shared_task(name="members.build_data_export", acks_late=True)
def build_data_export(export_id: int) -> str:
    """Build a member's personal data export (safe to run twice; see the service)."""
    from members.privacy.services import data_export_build

    return data_export_build(export_id=export_id)


@shared_task(name="members.purge_privacy_files", acks_late=True)
def purge_privacy_files() -> dict:
    """Nightly: delete expired export files and sealed copies whose legal hold ended."""
    from members.privacy.services import data_exports_purge, sealed_copies_purge

    result = {"exports": data_exports_purge(), "sealed_copies": sealed_copies_purge()}
    logger.info("privacy files purged: %s", result)
    return result


@shared_task(name="members.clear_expired_sessions")
def clear_expired_sessions() -> int:
    """Remove sessions past their expiry date: they are never read again, and the sign-in
    statement reads the sessions table on every signed-in request. Returns rows removed."""
    from django.utils import timezone

    from members.models import MemberSession

    deleted, _by_model = MemberSession.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
