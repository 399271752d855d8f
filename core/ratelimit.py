"""Fixed-window rate limits in Redis, for login, admission and redemption endpoints."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest

from core.clientip import client_ip  # keyed by it; views import it from here too


def rate_limited(
    request: HttpRequest, scope: str, *, limit: int, window: int, key: str | None = None
) -> bool:
    """Count one hit; True when this hit goes over ``limit`` within the last ``window`` seconds.

    A sliding window, estimated from two fixed ones: this window's hits plus the previous
    window's, weighted by how much of it still lies within the last ``window`` seconds. Fixed
    windows alone would let a burst straddling a boundary through at twice the limit.
    """
    who = key or client_ip(request) or "unknown"
    now = time.time()
    index = int(now // window)
    bucket = f"ratelimit:{scope}:{who}:{index}"
    previous = cache.get(f"ratelimit:{scope}:{who}:{index - 1}") or 0
    cache.add(bucket, 0, timeout=2 * window + 1)
    try:
        current = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=2 * window + 1)
        current = 1
    overlap = 1 - (now - index * window) / window
    hits = current + previous * overlap
    return hits > limit
