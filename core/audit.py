"""The audit trail (留痕): one append-only, hash-chained log of staff actions and decisions.

Services call ``audit_record`` inside their transaction, so an action and its trace commit or
roll back together. Entries are chained (each hash covers the previous one) under a
transaction-level advisory lock, which makes the chain a total order and lets ``verify_audit``
detect a row edited or deleted directly in SQL.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection, transaction

from core.models import AuditEntry

_CHAIN_LOCK_KEY = 7_310_001  # arbitrary constant: the advisory lock guarding the chain head


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(*, previous_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(f"{previous_hash}|{_canonical(payload)}".encode()).hexdigest()


def audit_record(
    *,
    action: str,
    actor=None,
    target: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    ip: str | None = None,
    rule: str = "",
) -> AuditEntry:
    """Append an entry. ``actor`` None means an automated decision; then ``rule`` names it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        previous = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry = AuditEntry(
            action=action,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=(actor.get_username() if getattr(actor, "pk", None) else rule or "system"),
            target_type=(target._meta.label if hasattr(target, "_meta") else ""),
            target_id=(str(target.pk) if hasattr(target, "pk") else str(target or "")),
            target_label=str(target)[:200] if target is not None else "",
            before=before or {},
            after=after or {},
            reason=reason,
            ip=ip,
            previous_hash=previous or "",
        )
        entry.save()
        entry.entry_hash = entry_hash(previous_hash=entry.previous_hash, payload=entry.payload())
        AuditEntry.objects.filter(pk=entry.pk).update(entry_hash=entry.entry_hash)
        return entry


def audit_record_many(entries: list[AuditEntry]) -> None:
    """Append many unsaved entries at once, chained exactly as ``audit_record`` one by one would.

    For jobs that decide about thousands of members in one night: one advisory lock, one bulk
    insert, one ``UPDATE … FROM unnest`` for the links and hashes, all in the caller's
    transaction (or one of its own).
    """
    if not entries:
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        previous = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        previous = previous or ""
        AuditEntry.objects.bulk_create(entries, batch_size=1000)
        ids, previous_hashes, hashes = [], [], []
        for entry in entries:
            entry.previous_hash = previous
            entry.entry_hash = entry_hash(previous_hash=previous, payload=entry.payload())
            previous = entry.entry_hash
            ids.append(entry.pk)
            previous_hashes.append(entry.previous_hash)
            hashes.append(entry.entry_hash)
        table = connection.ops.quote_name(AuditEntry._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS a "
                "SET previous_hash = v.previous_hash, entry_hash = v.entry_hash "
                "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) "
                "AS v(id, previous_hash, entry_hash) WHERE a.id = v.id",
                [ids, previous_hashes, hashes],
            )


def audit_verify() -> list[int]:
    """Ids of entries whose hash or chain link does not match: empty when the log is intact."""
    broken: list[int] = []
    previous = ""
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.previous_hash != previous or entry.entry_hash != entry_hash(
            previous_hash=entry.previous_hash, payload=entry.payload()
        ):
            broken.append(entry.pk)
        previous = entry.entry_hash
    return broken
