"""Shared plumbing for benchmark scripts: services, a scratch database, timing and tables.

Benchmarks print tables with ratios against a reference measured in the same run; absolute
numbers depend on the machine, ratios much less so.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_environment(name: str) -> Iterator[str]:
    """Embedded PostgreSQL/Redis unless given, Django set up on a scratch database.

    Yields the scratch database's DATABASE_URL (for server processes the benchmark starts).
    """
    from config.launcher import database_url_for, embedded_environment

    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("SITE_URL", "http://127.0.0.1")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_FORMAT", "text")
    os.environ.setdefault("STAFF_REQUIRE_MFA", "false")
    os.environ["REDIS_PREFIX"] = f"bench-{name}-{os.getpid()}"
    os.environ.setdefault("STATIC_ROOT", str(BASE_DIR / "var" / "test-staticfiles"))
    os.environ.setdefault("MEDIA_ROOT", str(BASE_DIR / "var" / f"bench-media-{name}"))
    services = (
        contextlib.nullcontext()
        if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
        else embedded_environment(prefix="bench-")
    )
    with services:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("collectstatic", "--noinput", verbosity=0)
        original = connection.settings_dict["NAME"]
        connection.settings_dict["TEST"]["NAME"] = f"bench_{name}"
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield database_url_for(connection.settings_dict)
        finally:
            from core.counters import flush_all

            flush_all()  # while the embedded Redis still runs, not at exit after it stopped
            connection.creation.destroy_test_db(original, verbosity=0)


def count_queries(fn) -> int:
    """SQL statements executed by ``fn`` (an execute wrapper sees every one, DEBUG or not)."""
    from django.db import connection

    executed = []

    def counter(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        fn()
    return len(executed)


def median_ms(fn, repeat: int = 15) -> float:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


SERVER_PIDS: dict[int, int] = {}  # port → pid of the server started by uvicorn_server


def process_tree_rss(pid: int) -> int:
    """Resident memory in bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        with contextlib.suppress(OSError):
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
    return total


@contextlib.contextmanager
def uvicorn_server(database_url: str, *, workers: int = 2) -> Iterator[int]:
    """The production server settings: uvicorn workers, DEBUG off, no access log."""
    from config.launcher import free_port, wait_for_port

    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, DEBUG="false",
               ALLOWED_HOSTS="127.0.0.1,localhost")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--lifespan", "off",
         "--no-access-log", "--no-proxy-headers", "--log-level", "warning"],
        cwd=BASE_DIR, env=env,
    )  # fmt: skip
    try:
        if not wait_for_port(port, 30):
            raise RuntimeError("uvicorn did not start")
        time.sleep(1.0)
        SERVER_PIDS[port] = process.pid
        yield port
    finally:
        SERVER_PIDS.pop(port, None)
        process.terminate()
        process.wait(20)


def http_throughput(
    port: int, path: str, *, cookie: str = "", seconds: float = 4.0, concurrency: int = 8
) -> tuple[float, int]:
    """Requests per second with keep-alive connections; returns (rps, non-200 responses)."""
    deadline = time.monotonic() + seconds
    counts = [0] * concurrency
    errors = [0] * concurrency

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Host": "127.0.0.1", "Cookie": cookie}
        while time.monotonic() < deadline:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            counts[index] += 1
            if response.status != 200:
                errors[index] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started), sum(errors)
