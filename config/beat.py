"""Celery beat that sends scheduled jobs only while it holds a lease: one beat, enforced.

Every scheduled job must be sent by exactly one beat, but a second beat is easy to start by
mistake (a deploy that starts beat on every machine, a stuck old process, a failover copy).
Each beat therefore holds a lease in Redis (``SET NX PX``, renewed on every tick) before it sends
anything. A beat without the lease sends nothing and checks again every third of the lease; when
the holder dies or hangs, its lease runs out and a waiting beat takes over within one lease.

Takeover must not run a job again that the previous holder already ran (a nightly expiry, a
daily reminder): the holder writes each entry's last run to a Redis hash as it sends it, and a
beat that takes the lease over reads those times into its own schedule before its first tick.
Jobs are still written to be safe to run twice; the lease keeps the second run from happening
in the first place.

RedBeat (celery-redbeat) does the same with the whole schedule kept in Redis. This keeps
Celery's own file-backed scheduler, the schedule in settings, and adds only the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime

import redis
from celery.beat import PersistentScheduler, ScheduleEntry
from django.conf import settings

logger = logging.getLogger("club.beat")

# Renew when we hold it, take it when nobody does; 1 when we hold it afterwards.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeasedScheduler(PersistentScheduler):
    """Celery's persistent scheduler, ticking only while it holds the beat lease."""

    def __init__(self, *args, **kwargs) -> None:
        self.lease_seconds = float(settings.BEAT_LEASE_SECONDS)
        self.lease_key = f"{settings.REDIS_PREFIX}:beat:lease"
        self.last_run_key = f"{settings.REDIS_PREFIX}:beat:last-run"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._release = self.redis.register_script(_RELEASE)
        self.holding = False
        super().__init__(*args, **kwargs)

    # --- The lease --------------------------------------------------------------------------

    def _hold_lease(self) -> bool:
        try:
            lease_ms = int(self.lease_seconds * 1000)
            held = bool(self._acquire(keys=[self.lease_key], args=[self.holder, lease_ms]))
        except redis.RedisError as exc:
            # Without Redis nothing can be sent anyway (it is the broker); never send unleased.
            logger.warning("beat lease unavailable: %s", exc)
            held = False
        if held and not self.holding:
            logger.info("beat %s holds the lease; sending scheduled jobs", self.holder)
            self._adopt_last_runs()
        elif self.holding and not held:
            logger.warning("beat %s lost the lease; standing by", self.holder)
        self.holding = held
        return held

    def _adopt_last_runs(self) -> None:
        """Take over the last run of each job from the previous holder, so none runs twice."""
        try:
            stored = self.redis.hgetall(self.last_run_key)
        except redis.RedisError:
            return
        changed = False
        for raw_name, raw_time in stored.items():
            name = raw_name.decode()
            entry = self.schedule.get(name)
            if entry is None:
                continue
            last_run = datetime.fromisoformat(raw_time.decode())
            if entry.last_run_at is None or last_run > entry.last_run_at:
                entry.last_run_at = last_run
                changed = True
        if changed:
            self._heap = None  # rebuilt from the adopted times on the next tick

    def tick(self, *args, **kwargs) -> float:
        standby = max(self.lease_seconds / 3, 0.2)
        if not self._hold_lease():
            return standby
        return min(super().tick(*args, **kwargs), standby)

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        new_entry = super().reserve(entry)
        try:
            self.redis.hset(self.last_run_key, entry.name, new_entry.last_run_at.isoformat())
        except redis.RedisError as exc:
            logger.warning("beat could not record the run of %s: %s", entry.name, exc)
        return new_entry

    def close(self) -> None:
        if self.holding:
            try:
                self._release(keys=[self.lease_key], args=[self.holder])
            except redis.RedisError:
                pass
        super().close()
