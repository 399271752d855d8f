"""Keys of the audit chain and the canonical JSON its HMACs cover."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

DERIVED_KEY_ID = "dev"  # the key derived from SECRET_KEY when AUDIT_KEYS is not set


# --- Keys -----------------------------------------------------------------------------------


class AuditKeyError(ValueError):
    """``AUDIT_KEYS`` / ``AUDIT_KEY_ID`` cannot be used (the message never contains a key)."""


def audit_derived_key(secret_key: str) -> bytes:
    """The development key (id ``dev``), derived from SECRET_KEY."""
    return hashlib.sha256(f"audit-chain:{secret_key}".encode()).digest()


@lru_cache(maxsize=8)
def _parse_keys(spec: str, secret_key: str) -> dict[str, bytes]:
    if not spec.strip():
        return {DERIVED_KEY_ID: audit_derived_key(secret_key)}
    keys: dict[str, bytes] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        key_id, separator, encoded = item.strip().partition(":")
        key_id = key_id.strip()
        if not separator or not key_id or len(key_id) > 32:
            raise AuditKeyError("AUDIT_KEYS: write each key as id:base64key (id up to 32 chars)")
        try:
            key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"),
                                   validate=True)  # fmt: skip
        except (binascii.Error, ValueError):
            raise AuditKeyError(f"AUDIT_KEYS: the key {key_id!r} is not base64") from None
        if len(key) < 32:
            raise AuditKeyError(f"AUDIT_KEYS: the key {key_id!r} is shorter than 32 bytes")
        if key_id in keys:
            raise AuditKeyError(f"AUDIT_KEYS: the id {key_id!r} is listed twice")
        keys[key_id] = key
    if not keys:
        raise AuditKeyError("AUDIT_KEYS lists no key")
    return keys


def audit_keys() -> dict[str, bytes]:
    """Every key an entry or checkpoint may have been sealed with, by id.

    ``AUDIT_KEYS`` ("id1:base64key,id2:base64key"); without it one key derived from SECRET_KEY
    (id ``dev``), which the deploy check warns about.
    """
    return _parse_keys(getattr(settings, "AUDIT_KEYS", "") or "", settings.SECRET_KEY)


def audit_current_key_id() -> str:
    """The id of the key new entries and checkpoints are sealed with: ``AUDIT_KEY_ID``, or the
    first key listed."""
    keys = audit_keys()
    key_id = getattr(settings, "AUDIT_KEY_ID", "") or next(iter(keys))
    if key_id not in keys:
        raise AuditKeyError(f"AUDIT_KEY_ID {key_id!r} is not one of AUDIT_KEYS")
    return key_id


# --- Canonical JSON ---------------------------------------------------------------------------


def audit_jsonable(value: Any) -> Any:
    """``value`` as plain JSON that survives a round trip through PostgreSQL unchanged.

    Datetimes, dates, Decimals, UUIDs and lazy strings become strings (as Django's JSON encoder
    writes them), tuples and sets lists, anything else its ``str``. The same value is stored and
    hashed, so the hash can be recomputed from what the database gives back.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return str(value).replace("\x00", "")  # PostgreSQL's jsonb cannot hold NUL
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        # 1e16 and up come back from jsonb written out in full, i.e. as an int.
        return int(value) if value.is_integer() and abs(value) >= 1e16 else value
    if isinstance(value, dict):
        return {str(audit_jsonable(key)): audit_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [audit_jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((audit_jsonable(item) for item in value), key=_canonical)
    try:
        return audit_jsonable(DjangoJSONEncoder().default(value))
    except TypeError:
        return audit_jsonable(str(value))


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _mac(key_id: str, message: str) -> str:
    key = audit_keys().get(key_id)
    if key is None:
        raise AuditKeyError(f"no key with id {key_id!r} in AUDIT_KEYS")
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def entry_hash(*, previous_hash: str, payload: dict[str, Any], key_id: str) -> str:
    """The HMAC that chains an entry to the previous one; computed by the sealer only."""
    return _mac(key_id, f"{previous_hash}|{key_id}|{_canonical(payload)}")
