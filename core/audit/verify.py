"""Verifying the audit chain, alone and against a signed checkpoint."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from core.audit.checkpoints import _checkpoint_errors
from core.audit.keys import audit_keys, entry_hash
from core.models import AuditEntry

# --- Verification -----------------------------------------------------------------------------


@dataclass
class Verification:
    sealed: int = 0
    pending: int = 0
    broken: list[int] = field(default_factory=list)
    # What disagrees with the checkpoint given to ``audit_check`` (empty: it matches, or none).
    checkpoint_problems: list[str] = field(default_factory=list)


def audit_check(*, checkpoint: dict[str, Any] | None = None) -> Verification:
    """Walk the chain in ``(xact, id)`` order: sealed entries whose HMAC or link does not match
    (or whose key is unknown) are broken; unsealed entries at the end are pending (not yet
    chained). An unsealed entry before a sealed one cannot happen (see ``core.audit``):
    it is reported broken.

    With a ``checkpoint``, the entry at the checkpoint's position must be its head, with its
    hash: a chain that lost entries (at the end too), or was re-sealed wholesale, does not
    match.
    """
    result = Verification()
    if checkpoint is not None:
        result.checkpoint_problems = _checkpoint_errors(checkpoint)
        if result.checkpoint_problems:
            checkpoint = None
    position = checkpoint.get("sealed") if checkpoint else None
    keys = audit_keys()
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
        if (
            entry.key_id not in keys
            or entry.previous_hash != previous
            or not hmac.compare_digest(
                entry.entry_hash,
                entry_hash(previous_hash=previous, payload=entry.payload(), key_id=entry.key_id),
            )
        ):
            result.broken.append(entry.pk)
        if result.sealed == position and (
            entry.pk != checkpoint["head_id"] or entry.entry_hash != checkpoint["head_hash"]
        ):
            result.checkpoint_problems.append(
                f"entry {position} of the chain is not the head the checkpoint of "
                f"{checkpoint['created_at']} signed (id {checkpoint['head_id']}): entries "
                "before it were removed, added or re-sealed"
            )
        previous = entry.entry_hash
    result.pending = len(unsealed)
    if position is not None and result.sealed < position:
        result.checkpoint_problems.append(
            f"the chain has {result.sealed} sealed entries but the checkpoint of "
            f"{checkpoint['created_at']} signed {position} (head id {checkpoint['head_id']}): "
            "entries were deleted"
        )
    return result


def audit_verify() -> list[int]:
    """Ids of entries whose hash or chain link does not match: empty when the log is intact."""
    return audit_check().broken
