"""Partner API keys and partner edits: staff actions, each audited in its own transaction.

Keys: the secret is drawn here, returned once to the caller (the admin page shows it once)
and kept encrypted with ``core.crypto``; verifying a signature decrypts it. Rotation issues a
new key and gives the partner's other working keys ``overlap`` to live (0: revoked at once).
Revocation takes effect on the next request: the API reads the key row on every call.

Locks: key rows only (no member or points row), so these stand outside the member → … order.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from core import crypto
from core.audit import audit_record
from loyalty.models import Partner
from partners.models import PartnerKey, PartnerRequest

DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


def _key_summary(key: PartnerKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def partner_key_issue(
    *, partner: Partner, actor, ip: str | None = None, now: datetime | None = None
) -> tuple[PartnerKey, str]:
    """A new key for the partner; the secret is returned here and never again."""
    now = now or timezone.now()
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = PartnerKey.objects.create(
            partner=partner,
            secret_encrypted=crypto.encrypt(secret),
            created_at=now,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            action="partner.key_issued", actor=actor, target=partner, after=_key_summary(key),
            ip=ip,
        )  # fmt: skip
    return key, secret


def partner_key_rotate(
    *,
    partner: Partner,
    actor,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    ip: str | None = None,
    now: datetime | None = None,
) -> tuple[PartnerKey, str]:
    """A new key; the partner's other working keys stop after ``overlap`` (0: at once)."""
    now = now or timezone.now()
    with transaction.atomic():
        old = list(
            PartnerKey.objects.select_for_update()
            .filter(partner=partner, revoked_at__isnull=True)
            .order_by("pk")
        )
        key, secret = partner_key_issue(partner=partner, actor=actor, ip=ip, now=now)
        ending = []
        for previous in old:
            if not previous.usable(now):
                continue
            if overlap <= timedelta(0):
                previous.revoked_at, previous.revoked_by = now, actor
                previous.save(update_fields=["revoked_at", "revoked_by"])
            else:
                until = now + overlap
                if previous.expires_at is None or previous.expires_at > until:
                    previous.expires_at = until
                    previous.save(update_fields=["expires_at"])
            ending.append(_key_summary(previous))
        audit_record(
            action="partner.key_rotated", actor=actor, target=partner,
            after={"new": key.key_id, "old": ending, "overlap_seconds": overlap.total_seconds()},
            ip=ip,
        )  # fmt: skip
    return key, secret


def partner_key_revoke(
    *, key: PartnerKey, actor, ip: str | None = None, now: datetime | None = None
) -> PartnerKey:
    """Stop a key at once (its next request is refused)."""
    now = now or timezone.now()
    with transaction.atomic():
        key = PartnerKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        before = _key_summary(key)
        key.revoked_at, key.revoked_by = now, actor
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            action="partner.key_revoked", actor=actor, target=key.partner, before=before,
            after=_key_summary(key), ip=ip,
        )  # fmt: skip
    return key


AUDITED_FIELDS = [
    "name", "code", "logo_id", "contact_name", "contact_email", "contact_phone", "point_value",
    "earn_limit_day", "earn_limit_month", "burn_limit_day", "burn_limit_month",
    "accrual_pending_hours", "hold_minutes", "shared_fields", "purpose", "counts_for_tier",
    "state",
]  # fmt: skip


def partner_snapshot(partner: Partner) -> dict[str, Any]:
    """The partner's terms as the audit trail keeps them (values as plain JSON)."""
    values = {name: getattr(partner, name) for name in AUDITED_FIELDS}
    values["point_value"] = str(values["point_value"])
    values["shared_fields"] = list(values["shared_fields"] or [])
    return values


def partner_change_record(
    *, partner: Partner, before: dict[str, Any] | None, actor, ip: str | None = None
) -> None:
    """Audit what staff changed in a partner's terms (the admin's create and edit)."""
    after = partner_snapshot(partner)
    if before is None:
        audit_record(action="partner.created", actor=actor, target=partner, after=after, ip=ip)
        return
    changed = [name for name in AUDITED_FIELDS if before.get(name) != after.get(name)]
    if not changed:
        return
    audit_record(
        action="partner.changed", actor=actor, target=partner,
        before={name: before.get(name) for name in changed},
        after={name: after[name] for name in changed}, ip=ip,
    )  # fmt: skip


IDEMPOTENCY_RETENTION = timedelta(days=30)


def partner_requests_prune(*, now: datetime | None = None) -> int:
    """Forget stored answers older than ``IDEMPOTENCY_RETENTION`` (partners retry within
    minutes or hours; docs/partners.md promises 30 days). How many were removed."""
    now = now or timezone.now()
    deleted, _by_model = PartnerRequest.objects.filter(
        created_at__lt=now - IDEMPOTENCY_RETENTION
    ).delete()
    return deleted
