"""Scheduled work of the partner API: thin wrappers around services, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="partners.prune_requests", acks_late=True)
def prune_requests() -> int:
    from partners.services import partner_requests_prune

    return partner_requests_prune()
