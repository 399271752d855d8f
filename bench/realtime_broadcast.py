"""Benchmark: time from publishing a tier-wide event to its receipt by every connected member.

N websocket clients (100, 1,000), each a signed-in gold member, connect to the production server
settings (uvicorn, 2 workers). One event is published to the gold tier's channel-layer group;
the table shows median and p99 delivery latency over several rounds, beside the round trip of a
single client as the reference measured in the same run.

A second table gives what sizing needs (docs/operations.md): the space a signed-in member's
session takes in PostgreSQL (its row and index entries), and what each open socket adds to the
web processes' resident memory and to Redis (its pub/sub subscriptions), measured against the
same server with no socket.

    .venv/bin/python -m bench.realtime_broadcast
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time

from bench.common import bench_environment, print_table, uvicorn_server

CLIENT_COUNTS = [1, 100, 1000]
ROUNDS = 5


def make_sessions(count: int) -> list[str]:
    """Signed-in gold members, their session cookies created directly in the session store."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User

    from members.models import Member
    from members.sessions import SessionStore
    from tests.factories import standard_tiers

    gold = standard_tiers()["gold"]
    users = User.objects.bulk_create(
        [User(username=f"bench-{i}", password="!") for i in range(count)]
    )
    Member.objects.bulk_create(
        [Member(user=u, state=Member.State.MEMBER, tier=gold, display_name=u.username)
         for u in users]
    )  # fmt: skip
    cookies = []
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "members.auth.MemberModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
    return cookies


def sessions_table_bytes() -> int:
    """The sessions table with its indexes and TOAST, after a VACUUM so the sizes are current."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM members_membersession")
        cursor.execute("SELECT pg_total_relation_size('members_membersession')")
        return cursor.fetchone()[0]


def redis_used_memory() -> int:
    import redis
    from django.conf import settings

    return int(redis.Redis.from_url(settings.REDIS_URL).info("memory")["used_memory"])


def server_rss(port: int) -> int:
    from bench.common import SERVER_PIDS, process_tree_rss

    return process_tree_rss(SERVER_PIDS[port])


async def run_round(port: int, cookies: list[str], rounds: int) -> tuple[list[float], int, int]:
    """Latencies of ``rounds`` broadcasts, and (web RSS, Redis memory) with every socket open."""
    import websockets
    from channels.layers import get_channel_layer

    from core.events import EVENT_MESSAGE_TYPE, tier_group

    url = f"ws://127.0.0.1:{port}/ws/events/"
    headers = {"Origin": "http://127.0.0.1"}
    sockets = []
    for start in range(0, len(cookies), 100):  # connect in waves
        batch = cookies[start : start + 100]
        sockets += await asyncio.gather(
            *(websockets.connect(url, additional_headers={**headers, "Cookie": c},
                                 open_timeout=60, max_queue=None) for c in batch)
        )  # fmt: skip
    await asyncio.sleep(1.0)  # let every consumer join its groups
    rss, redis_memory = server_rss(port), redis_used_memory()
    layer = get_channel_layer()
    latencies: list[float] = []
    try:
        for round_number in range(rounds):
            sent = time.perf_counter()
            payload = {"type": "bench", "round": round_number}
            await layer.group_send(tier_group("gold"),
                                   {"type": EVENT_MESSAGE_TYPE, "payload": payload})  # fmt: skip

            async def receive(ws, marker=f'"round": {round_number}', sent=sent):
                while True:
                    message = await asyncio.wait_for(ws.recv(), timeout=30)
                    if marker in message:
                        return (time.perf_counter() - sent) * 1000

            latencies += await asyncio.gather(*(receive(ws) for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return latencies, rss, redis_memory


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    with bench_environment("realtime") as database_url:
        before_sessions = sessions_table_bytes()
        cookies = make_sessions(max(CLIENT_COUNTS))
        per_session = (sessions_table_bytes() - before_sessions) / len(cookies)
        rows, memory_rows = [], []
        with uvicorn_server(database_url, workers=2) as port:
            asyncio.run(run_round(port, cookies[:1], 1))  # warm: workers import everything
            # This process holds Django too: a full collection of that heap (~150 ms) while
            # the clients wait would be timed as delivery. The web processes freeze theirs.
            gc.collect()
            gc.freeze()
            time.sleep(1.0)
            idle_rss, idle_redis = server_rss(port), redis_used_memory()
            reference = None
            for count in CLIENT_COUNTS:
                latencies, rss, redis_memory = asyncio.run(run_round(port, cookies[:count], ROUNDS))
                memory_rows.append([count, f"{rss / 2**20:.0f}",
                                    f"{(rss - idle_rss) / count / 1024:.0f}",
                                    f"{(redis_memory - idle_redis) / count:.0f}"])  # fmt: skip
                median = statistics.median(latencies)
                reference = reference or median
                rows.append([count, len(latencies), f"{median:.1f}",
                             f"{percentile(latencies, 0.99):.1f}", f"{max(latencies):.1f}",
                             f"{median / reference:.1f}"])  # fmt: skip
        print_table(
            "Tier-wide event → receipt by every client (uvicorn, 2 workers, Redis pub/sub layer)",
            ["clients", "deliveries", "median ms", "p99 ms", "max ms", "median / 1 client"],
            rows,
        )
        print_table(
            f"Memory with the sockets open (idle server: {idle_rss / 2**20:.0f} MiB in 2 workers; "
            f"a session in PostgreSQL: {per_session:.0f} bytes)",
            ["clients", "web RSS MiB", "web KiB per socket", "Redis bytes per socket"],
            memory_rows,
        )


if __name__ == "__main__":
    main()
