"""Encryption at rest for secrets we must keep (Weibo access tokens, sealed legal-hold copies).

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first, so keys can
be rotated); without it a key is derived from SECRET_KEY. A database dump alone never reveals a
token.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _keys() -> tuple[str, ...]:
    configured = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ())
    if configured:
        return configured
    derived = hashlib.sha256(f"field-encryption:{settings.SECRET_KEY}".encode()).digest()
    return (base64.urlsafe_b64encode(derived).decode(),)


def encrypt(plaintext: str) -> str:
    return _fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str | None:
    """The plaintext, or None when the value cannot be decrypted with any configured key."""
    if not ciphertext:
        return None
    try:
        return _fernet(_keys()).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None


def encrypt_bytes(data: bytes) -> bytes:
    """Encrypt a whole file (a sealed copy kept under a legal hold) with the same keys."""
    return _fernet(_keys()).encrypt(data)


def decrypt_bytes(token: bytes) -> bytes | None:
    """The file's bytes, or None when no configured key opens it."""
    try:
        return _fernet(_keys()).decrypt(token)
    except InvalidToken:
        return None
