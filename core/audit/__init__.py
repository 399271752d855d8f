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

Keyed: each hash is an HMAC-SHA256 under a key from ``AUDIT_KEYS`` (never in the database), and
each entry stores the id of the key it was sealed with, so keys rotate without re-sealing. Someone
with SQL access but not the key cannot re-hash an edited chain. PostgreSQL triggers refuse
UPDATE, DELETE and TRUNCATE on the table (the sealer's fill-in of empty hashes excepted), and a
signed checkpoint of the chain's length and head, written outside the database every few
minutes (``audit_checkpoint``), lets ``verify_audit`` notice a cut-off tail or a chain re-sealed
wholesale.

Pseudonymous: people, objects, IP addresses and personal values appear in entries only as
pseudonyms (``core.models.AuditSubject``), so erasing a person (``audit_forget_person``) blanks
their mapping and leaves the sealed chain as it was.
"""

from core.audit.chain import (
    SEAL_BATCH,
    SEALER_LOCK,
    audit_entry,
    audit_record,
    audit_record_many,
    audit_seal,
)
from core.audit.checkpoints import (
    CHECKPOINT_DIR,
    audit_checkpoint,
    audit_latest_checkpoint,
)
from core.audit.keys import (
    DERIVED_KEY_ID,
    AuditKeyError,
    _canonical,
    audit_current_key_id,
    audit_derived_key,
    audit_jsonable,
    audit_keys,
    entry_hash,
)
from core.audit.subjects import (
    PERSONAL_KEYS,
    AuditTarget,
    audit_forget_person,
    audit_resolve,
    audit_subject_pseudonyms,
)
from core.audit.verify import Verification, audit_check, audit_verify

__all__ = [
    "CHECKPOINT_DIR",
    "DERIVED_KEY_ID",
    "PERSONAL_KEYS",
    "SEALER_LOCK",
    "SEAL_BATCH",
    "AuditKeyError",
    "AuditTarget",
    "Verification",
    "_canonical",
    "audit_check",
    "audit_checkpoint",
    "audit_current_key_id",
    "audit_derived_key",
    "audit_entry",
    "audit_forget_person",
    "audit_jsonable",
    "audit_keys",
    "audit_latest_checkpoint",
    "audit_record",
    "audit_record_many",
    "audit_resolve",
    "audit_seal",
    "audit_subject_pseudonyms",
    "audit_verify",
    "entry_hash",
]
