"""Statistics counted by a web process in memory and handed to Redis once a second.

A page served from the page cache costs one Redis round trip; counting its view with another
would cost as much again. So a web process adds counts up in memory and writes them to Redis
in one pipeline at most once a second (and when it exits normally); beat moves them from Redis
to PostgreSQL. What a process that is killed outright had not written yet (under a second of
views) is lost: these are statistics, never points, stock or anything a member sees.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

logger = logging.getLogger(__name__)

FLUSH_EVERY = 1.0

_buffers: list[Buffer] = []


def flush_all() -> None:
    """Write every buffer now: before the process exits, or before its Redis goes away."""
    for buffer in _buffers:
        buffer.flush()


class Buffer:
    """Items added from any thread; ``write(pipeline, items)`` sends a batch to Redis."""

    def __init__(self, write: Callable, *, counting: bool) -> None:
        self._write = write
        self._counting = counting
        self._items: Counter | list = Counter() if counting else []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        atexit.register(self.flush)
        _buffers.append(self)

    def add(self, item) -> None:
        with self._lock:
            if self._counting:
                self._items[item] += 1
            else:
                self._items.append(item)
            due = time.monotonic() - self._last >= FLUSH_EVERY
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what this process has counted (tests and shutdown call it directly)."""
        with self._lock:
            items, self._items = self._items, (Counter() if self._counting else [])
            self._last = time.monotonic()
        if not items:
            return
        from core.pagecache import redis_client

        try:
            pipeline = redis_client().pipeline(transaction=False)
            self._write(pipeline, items)
            pipeline.execute()
        except Exception:  # noqa: BLE001 - a statistic is not worth failing a request
            logger.warning("counts not written: cache unavailable", exc_info=True)
