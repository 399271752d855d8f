"""Recording and sealing entries of the audit chain."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from core.audit.keys import audit_current_key_id, entry_hash
from core.audit.subjects import AuditTarget, _owner_of, _pseudonymise
from core.locking import Lock, lock_key
from core.models import AuditEntry

SEALER_LOCK = (7_310_001, 0)  # advisory lock (space, key) at Lock.AUDIT: one sealer at a time
SEAL_BATCH = 5000
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())"


# --- Recording --------------------------------------------------------------------------------


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
    then ``rule`` names it. Pseudonyms are given when it is recorded."""
    real_actor = actor if getattr(actor, "pk", None) else None
    if isinstance(target, AuditTarget):
        target_type, target_id, target_label = target.type, target.id, target.label
        target_owner = target.owner
    elif hasattr(target, "_meta"):
        target_type, target_id = target._meta.label, str(target.pk)
        target_label, target_owner = str(target), _owner_of(target)
    else:
        target_type, target_id, target_owner = "", str(target or ""), ""
        target_label = str(target) if target is not None else ""
    entry = AuditEntry(
        action=action,
        actor=real_actor,
        actor_label=(real_actor.get_username() if real_actor else rule or "system")[:150],
        target_type=target_type,
        target_id=target_id[:64],
        target_label=target_label[:200],
        before=before or {},
        after=after or {},
        reason=reason,
    )
    entry._audit_owners = (_owner_of(real_actor) if real_actor else "", target_owner)
    entry._audit_ip = ip or ""
    return entry


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
    """Append an entry in the caller's transaction: one INSERT (and its new pseudonyms), no
    lock, sealed later."""
    entry = audit_entry(
        action=action, actor=actor, target=target, before=before, after=after, reason=reason,
        ip=ip, rule=rule,
    )  # fmt: skip
    _pseudonymise([entry])
    entry.save()
    return entry


def audit_record_many(entries: list[AuditEntry]) -> None:
    """Append many unsaved entries at once (one bulk insert, no lock); sealed like any other.

    For jobs that decide about thousands of members in one night. Entries built directly (not
    through ``audit_entry``) get their labels pseudonymised too.
    """
    if entries:
        _pseudonymise(entries)
        AuditEntry.objects.bulk_create(entries, batch_size=1000)


# --- Sealing ----------------------------------------------------------------------------------


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
    The UPDATE that fills the hashes is the only one the table's trigger lets through.
    """
    key_id = audit_current_key_id()
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
                previous = entry_hash(
                    previous_hash=previous, payload=entry.payload(), key_id=key_id
                )
                hashes.append(previous)
            table = connection.ops.quote_name(AuditEntry._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS a "
                    "SET previous_hash = v.previous_hash, entry_hash = v.entry_hash, key_id = %s "
                    "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) "
                    "AS v(id, previous_hash, entry_hash) WHERE a.id = v.id AND a.entry_hash = ''",
                    [key_id, ids, previous_hashes, hashes],
                )
            sealed += len(rows)
        if len(rows) < batch:
            return sealed
