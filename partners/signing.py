"""Request signing of the partner API (HMAC-SHA256), shared by the server and partners' clients.

The string to sign is six lines::

    METHOD
    /api/partner/v1/path/
    canonical query (pairs sorted, RFC 3986 percent-encoding, "" when none)
    timestamp (Unix seconds, as sent in X-Timestamp)
    nonce (as sent in X-Nonce)
    hex SHA-256 of the raw body ("" body hashes too)

``X-Signature`` is the hex HMAC-SHA256 of that string under the key's secret. This module has
no Django import, so a partner (or ``bench/partner_simulator.py``) can copy it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl, quote

HEADER_KEY = "X-Partner-Key"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def string_to_sign(
    *, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> str:
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            timestamp,
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def signature(secret: str, **parts) -> str:
    return hmac.new(secret.encode(), string_to_sign(**parts).encode(), hashlib.sha256).hexdigest()


def sign_headers(
    *, key_id: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"",
    timestamp: int | None = None, nonce: str | None = None,
) -> dict[str, str]:  # fmt: skip
    """The four headers a signed request carries."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(
            secret, method=method, path=path, query=query, timestamp=stamp, nonce=nonce, body=body
        ),
    }


def matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode())
