"""Django's Redis cache backend, keeping one client per connection pool, and reading on a
connection of each thread's own.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call, and
redis-py fills a table of some 170 response callbacks in each one: about 0.35 ms of pure Python
per call, paid by every request (sessions, the page cache, daily actives, rate limits). A
``redis.Redis`` is safe to share between threads (it takes a connection from its pool per
command), so one per pool is enough.

Reads (``get``, ``get_many``) are what every cached page costs: an outsider's page is one
``GET`` and a member's kept page one ``MGET``. Through redis-py's client each goes through the
pool's check-out (which polls the socket for stray data), the retry wrapper and the check-in,
about twice what the command itself costs in Python. So each thread keeps one connection of
its own for reads and sends them on it directly. Nothing can be left unread on it: any error
between sending and reading drops the connection, and the read is then done again the usual
way (with redis-py's retries and reconnection). A connection is never used by another process
than the one that opened it (a forked Celery worker opens its own).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._readers = threading.local()

    def _read(self, *command: Any) -> Any:
        """Send ``command`` on this thread's read connection and return the reply."""
        held = getattr(self._readers, "connection", None)
        if held is None or held[0] != os.getpid():
            pool = self._get_connection_pool(False)
            held = self._readers.connection = (os.getpid(), pool.make_connection())
        connection = held[1]
        try:
            connection.send_command(*command)
            return connection.read_response()
        except BaseException:
            self._readers.connection = None
            connection.disconnect()
            raise

    def get(self, key: Any, default: Any) -> Any:
        try:
            value = self._read("GET", key)
        except Exception:  # noqa: BLE001 - read again the usual way, with its retries
            return super().get(key, default)
        return default if value is None else self._serializer.loads(value)

    def get_many(self, keys: list) -> dict:
        try:
            values = self._read("MGET", *keys)
        except Exception:  # noqa: BLE001 - read again the usual way, with its retries
            return super().get_many(keys)
        loads = self._serializer.loads
        pairs = zip(keys, values, strict=True)
        return {key: loads(value) for key, value in pairs if value is not None}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(index)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def validate_key(self, key: str) -> None:
        """Redis keys are binary-safe: no warning about what memcached would refuse (Django's
        check walks every character of every key in Python, on every cache call)."""
