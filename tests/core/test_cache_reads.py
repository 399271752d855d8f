"""Cache reads on each thread's own connection (``config.rediscache``) answer exactly what the
cache holds, also after Redis dropped that connection, and from every thread."""

from __future__ import annotations

import threading

from django.core.cache import cache


def kill_other_clients() -> None:
    """Redis closes every client connection but the one asking (as a restart would)."""
    client = cache._cache.get_client(write=True)
    client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")


def test_a_dropped_read_connection_is_replaced_and_nothing_is_lost():
    cache.set("reads:a", {"points": 800})
    cache.set("reads:b", 7)
    assert cache.get("reads:a") == {"points": 800}

    kill_other_clients()
    assert cache.get_many(["reads:a", "reads:b", "reads:none"]) == {
        "reads:a": {"points": 800},
        "reads:b": 7,
    }
    kill_other_clients()
    assert cache.get("reads:a") == {"points": 800}
    assert cache.get("reads:none", "default") == "default"
    cache.set("reads:a", {"points": 350})
    assert cache.get("reads:a") == {"points": 350}


def test_each_thread_reads_its_own_answers():
    for n in range(8):
        cache.set(f"reads:thread:{n}", n)
    wrong: list = []

    def read(n: int) -> None:
        for _ in range(200):
            got = cache.get_many([f"reads:thread:{n}", f"reads:thread:{(n + 1) % 8}"])
            if got != {f"reads:thread:{n}": n, f"reads:thread:{(n + 1) % 8}": (n + 1) % 8}:
                wrong.append(got)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
