"""Signed checkpoints of the audit chain, kept outside the database."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from core.audit.chain import SEALER_LOCK, audit_seal
from core.audit.keys import AuditKeyError, _canonical, _mac, audit_current_key_id
from core.locking import Lock, lock_key
from core.models import AuditEntry

checkpoint_log = logging.getLogger("core.audit.checkpoint")
CHECKPOINT_DIR = "audit-checkpoints"
CHECKPOINT_VERSION = 1


# --- Checkpoints ------------------------------------------------------------------------------


def _checkpoint_storage():
    alias = getattr(settings, "AUDIT_CHECKPOINT_STORAGE", "default")
    return storages[alias] if alias else None


def _checkpoint_signature(body: dict[str, Any]) -> str:
    unsigned = {key: value for key, value in body.items() if key != "signature"}
    return _mac(str(body.get("key_id", "")), f"checkpoint|{_canonical(unsigned)}")


def audit_latest_checkpoint() -> dict[str, Any] | None:
    """The newest checkpoint kept in the checkpoint storage, or None (none yet, or no storage).

    Files are ``audit-checkpoints/<day>/<sealed count, 12 digits>-<head hash>.json``: the last
    name of the last day is the newest.
    """
    storage = _checkpoint_storage()
    if storage is None:
        return None
    try:
        days, _files = storage.listdir(CHECKPOINT_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return None
    for day in sorted(days, reverse=True):
        _dirs, files = storage.listdir(f"{CHECKPOINT_DIR}/{day}")
        names = sorted(name for name in files if name.endswith(".json"))
        if names:
            with storage.open(f"{CHECKPOINT_DIR}/{day}/{names[-1]}") as handle:
                return json.loads(handle.read())
    return None


def audit_checkpoint(*, now=None) -> dict[str, Any] | None:
    """Seal, then write a signed checkpoint of the chain (its length, head and key id) outside
    the database: one JSON line to the ``core.audit.checkpoint`` logger and, when a checkpoint
    storage is configured, a file in it. Returns it; None when the chain is empty or has not
    moved since the newest stored checkpoint. Safe to run twice.

    The length and head are read under the sealer's lock, so they describe one moment.
    """
    audit_seal()
    with transaction.atomic():
        lock_key(Lock.AUDIT, *SEALER_LOCK)
        sealed = AuditEntry.objects.exclude(entry_hash="").count()
        head = (
            AuditEntry.objects.exclude(entry_hash="")
            .order_by("-xact", "-id")
            .values("id", "xact", "entry_hash")
            .first()
        )
    if not sealed or head is None:
        return None
    latest = audit_latest_checkpoint()
    if latest and (latest.get("sealed"), latest.get("head_hash")) == (sealed, head["entry_hash"]):
        return None
    now = now or timezone.now()
    body: dict[str, Any] = {
        "kind": "audit-checkpoint",
        "v": CHECKPOINT_VERSION,
        "sealed": sealed,
        "head_id": head["id"],
        "head_xact": head["xact"],
        "head_hash": head["entry_hash"],
        "key_id": audit_current_key_id(),
        "created_at": now.isoformat(),
    }
    body["signature"] = _checkpoint_signature(body)
    line = _canonical(body)
    checkpoint_log.info(line, extra={"audit_checkpoint": body})
    storage = _checkpoint_storage()
    if storage is not None:
        day = timezone.localtime(now).date().isoformat()
        name = f"{CHECKPOINT_DIR}/{day}/{sealed:012d}-{head['entry_hash'][:16]}.json"
        if not storage.exists(name):
            storage.save(name, ContentFile((line + "\n").encode()))
    return body


def _checkpoint_errors(checkpoint: dict[str, Any]) -> list[str]:
    if checkpoint.get("kind") != "audit-checkpoint" or checkpoint.get("v") != CHECKPOINT_VERSION:
        return ["the checkpoint is not an audit checkpoint this version can read"]
    try:
        expected = _checkpoint_signature(checkpoint)
    except AuditKeyError:
        return [f"the checkpoint's key {checkpoint.get('key_id')!r} is not in AUDIT_KEYS"]
    if not hmac.compare_digest(expected, str(checkpoint.get("signature", ""))):
        return ["the checkpoint's signature does not match: it was not written with our key"]
    return []
