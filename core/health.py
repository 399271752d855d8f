"""Reachability checks of the services the site cannot work without."""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

from core.models import WorkerHeartbeat


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache round trip failed")
    cache.delete(key)


def check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=2,
        transport_options={"socket_timeout": 2, "socket_connect_timeout": 2},
    ) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        conn.default_channel.client.ping()


def last_worker_heartbeat_age() -> float | None:
    newest = WorkerHeartbeat.objects.order_by("-created_at").values_list("created_at", flat=True)
    created = newest.first()
    return None if created is None else max(0.0, time.time() - created.timestamp())


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks() -> tuple[bool, dict[str, object]]:
    """Run every check; report each one instead of stopping at the first failure."""
    report: dict[str, object] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            healthy = False
            report[name] = {"ok": False, "error": exc.__class__.__name__}
        else:
            report[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if report["database"]["ok"]:  # type: ignore[index]
        age = last_worker_heartbeat_age()
        report["worker_heartbeat_age_s"] = None if age is None else round(age)
    return healthy, report
