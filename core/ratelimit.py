"""Fixed-window rate limits in Redis, for login, admission and redemption endpoints."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind our own TLS proxy, the first X-Forwarded-For hop."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def rate_limited(
    request: HttpRequest, scope: str, *, limit: int, window: int, key: str | None = None
) -> bool:
    """Count one hit; True when this hit goes over ``limit`` within the current window."""
    who = key or client_ip(request) or "unknown"
    bucket = f"ratelimit:{scope}:{who}:{int(time.time() // window)}"
    cache.add(bucket, 0, timeout=window + 1)
    try:
        hits = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=window + 1)
        hits = 1
    return hits > limit
