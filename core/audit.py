"""The audit trail (留痕): one append-only, hash-chained log of staff actions and decisions.

Services call ``audit_record`` inside their transaction, so an action and its trace commit or
roll back together. Recording takes no lock and reads nothing: the row is inserted with empty
hashes, and the database stamps it with the writing transaction's id (``xact``, an ``xid8``).
Member actions therefore never wait for each other on the audit trail.

``audit_seal`` is the one place a hash is computed. It chains unsealed rows in the order
``(xact, id)``: each entry's hash covers the previous entry's hash and its own payload, so
``audit_verify`` detects a sealed row edited or deleted directly in SQL. It runs every few
seconds from Celery beat, and at the start of ``verify_audit`` and the audit log pages.

Why the sealing order never skips or reorders a row: the sealer seals only rows whose ``xact``
is below the xmin of its snapshot (``pg_snapshot_xmin(pg_current_snapshot())``), the oldest
transaction still in flight. Every transaction below that horizon has ended, so all of its rows
are visible now and sealed in this pass (or a later one, in order). Any row that becomes visible
later belongs to a transaction in flight or not yet started, whose id is at or above the
horizon, so it sorts after everything already sealed. Ids alone would not do: a transaction can
take id 10 and commit after another committed id 11. Hence the chain order ``(xact, id)``, and
hence an unsealed row that sorts before a sealed one can only be tampering.

The sealer takes one advisory lock (``core.locking.Lock.AUDIT``) so that two sealers do not
chain the same head twice; nothing else takes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from core.locking import Lock, lock_key
from core.models import AuditEntry

SEALER_LOCK = (7_310_001, 0)  # advisory lock (space, key) at Lock.AUDIT: one sealer at a time
SEAL_BATCH = 5000
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())"


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(*, previous_hash: str, payload: dict[str, Any]) -> str:
    """The hash that chains an entry to the previous one; computed by the sealer only."""
    return hashlib.sha256(f"{previous_hash}|{_canonical(payload)}".encode()).hexdigest()


def audit_entry(
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
    """An unsaved entry (for ``audit_record_many``). ``actor`` None means an automated decision;
    then ``rule`` names it."""
    return AuditEntry(
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
    )


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
    """Append an entry in the caller's transaction: one INSERT, no lock, sealed later."""
    entry = audit_entry(
        action=action, actor=actor, target=target, before=before, after=after, reason=reason,
        ip=ip, rule=rule,
    )  # fmt: skip
    entry.save()
    return entry


def audit_record_many(entries: list[AuditEntry]) -> None:
    """Append many unsaved entries at once (one bulk insert, no lock); sealed like any other.

    For jobs that decide about thousands of members in one night.
    """
    if entries:
        AuditEntry.objects.bulk_create(entries, batch_size=1000)


def _head() -> str:
    """The hash of the last sealed entry in chain order, or "" for an empty chain."""
    return (
        AuditEntry.objects.exclude(entry_hash="")
        .order_by("-xact", "-id")
        .values_list("entry_hash", flat=True)
        .first()
    ) or ""


def audit_seal(*, wait: bool = True, batch: int = SEAL_BATCH) -> int:
    """Chain every entry of every ended transaction, in ``(xact, id)`` order; how many were sealed.

    ``wait=False`` (the beat task, the log pages) returns 0 at once when another sealer is at
    work. Each batch is its own transaction, so a long backlog never holds the lock for long.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            if not lock_key(Lock.AUDIT, *SEALER_LOCK, wait=wait):
                return sealed
            previous = _head()
            rows = list(
                AuditEntry.objects.filter(entry_hash="", xact__lt=RawSQL(_HORIZON, [])).order_by(
                    "xact", "id"
                )[:batch]
            )
            if not rows:
                return sealed
            ids, previous_hashes, hashes = [], [], []
            for entry in rows:
                ids.append(entry.pk)
                previous_hashes.append(previous)
                previous = entry_hash(previous_hash=previous, payload=entry.payload())
                hashes.append(previous)
            table = connection.ops.quote_name(AuditEntry._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS a "
                    "SET previous_hash = v.previous_hash, entry_hash = v.entry_hash "
                    "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) "
                    "AS v(id, previous_hash, entry_hash) WHERE a.id = v.id AND a.entry_hash = ''",
                    [ids, previous_hashes, hashes],
                )
            sealed += len(rows)
        if len(rows) < batch:
            return sealed


@dataclass
class Verification:
    sealed: int = 0
    pending: int = 0
    broken: list[int] = field(default_factory=list)


def audit_check() -> Verification:
    """Walk the chain in ``(xact, id)`` order: sealed entries whose hash or link does not match
    are broken; unsealed entries at the end are pending (not yet chained). An unsealed entry
    before a sealed one cannot happen (see the module docstring): it is reported broken."""
    result = Verification()
    previous = ""
    unsealed: list[int] = []
    for entry in AuditEntry.objects.order_by("xact", "id").iterator(chunk_size=2000):
        if not entry.entry_hash:
            unsealed.append(entry.pk)
            continue
        if unsealed:
            result.broken.extend(unsealed)
            unsealed = []
        result.sealed += 1
        if entry.previous_hash != previous or entry.entry_hash != entry_hash(
            previous_hash=entry.previous_hash, payload=entry.payload()
        ):
            result.broken.append(entry.pk)
        previous = entry.entry_hash
    result.pending = len(unsealed)
    return result


def audit_verify() -> list[int]:
    """Ids of entries whose hash or chain link does not match: empty when the log is intact."""
    return audit_check().broken
