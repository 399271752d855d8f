"""Benchmark: 1,000 confirmed shares posted by 2 Celery workers, with 5 % transient Weibo errors.

A Weibo sandbox runs in this process (no hourly cap); 50 members each confirm 20 shares with a
card. Two real ``celery worker`` processes (concurrency 1 each) post them while the sandbox
answers about 5 % of calls with ``10001 system error``. The table shows throughput, retries, and
the proof: every share sent, one Weibo post per share (0 duplicates, 0 lost). The reference is
the same 1,000 posts sent straight to the sandbox by 2 threads, with no queue, database or
faults, measured in the same run.

    .venv/bin/python -m bench.share_posting
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import requests

from bench.common import BASE_DIR, bench_environment, print_table

MEMBERS = 50
SHARES_PER_MEMBER = 20
WORKERS = 2
ERROR_RATE = 0.05


def start_sandbox():
    from weibo_sandbox.server import SandboxConfig, start_in_thread

    config = SandboxConfig(
        app_key="3388776655", app_secret="sandbox-app-secret",
        redirect_uris=["http://127.0.0.1/"], safe_domain="127.0.0.1", data_dir=None,
        share_hourly_limit=1_000_000, token_ttl=157679999,
    )  # fmt: skip
    server, base = start_in_thread(config)
    return server, base


def seed_users(base: str) -> list[str]:
    uids = [str(1009000000 + i) for i in range(MEMBERS)]
    users = [
        {"idstr": uid, "screen_name": f"压测用户{i}", "followers_count": 100 + i}
        for i, uid in enumerate(uids)
    ]
    requests.post(f"{base}/_sandbox/users", json=users, timeout=10).raise_for_status()
    return uids


def reference_run(base: str, uids: list[str]) -> float:
    """Posts per second straight to the sandbox, 2 threads, no queue or database."""
    from members.weibo import client as weibo
    from share.card import CardContent, render_card

    card = render_card(
        CardContent(title="金卡", summary="成为金卡会员", link="http://127.0.0.1/s/x/")
    )

    tokens = {
        uid: requests.post(f"{base}/_sandbox/tokens", json={"uid": uid}, timeout=5).json()[
            "access_token"
        ]
        for uid in uids
    }
    jobs = [(uid, n) for n in range(SHARES_PER_MEMBER) for uid in uids]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                uid, n = jobs.pop()
            weibo.statuses_share(
                access_token=tokens[uid], status=f"参考 {n} http://127.0.0.1/s/ref{uid}{n}/",
                rip="203.0.113.1", pic=card,
            )  # fmt: skip

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return MEMBERS * SHARES_PER_MEMBER / (time.monotonic() - started)


def confirm_shares(base: str, uids: list[str]) -> list[int]:
    from core import crypto
    from members.models import Member
    from share import services
    from share.subjects import tier_subject
    from tests.factories import MemberFactory, standard_tiers

    gold = standard_tiers()["gold"]
    members = []
    for uid in uids:
        token = requests.post(f"{base}/_sandbox/tokens", json={"uid": uid}, timeout=5).json()[
            "access_token"
        ]
        members.append(
            MemberFactory(
                tier=gold,
                weibo_uid=uid,
                weibo_followers=100,
                weibo_token_state="valid",
                weibo_token_encrypted=crypto.encrypt(token),
                state=Member.State.MEMBER,
            )  # fmt: skip
        )
    ids = []
    # Members' confirmations interleave, as they do on the site.
    for n in range(SHARES_PER_MEMBER):
        for member in members:
            subject = tier_subject(member)
            _text, _token, link = services.draft_text(member=member, subject=subject)
            share = services.share_confirm(
                member=member, subject=subject, text=f"第 {n + 1} 次分享：我成为了金卡会员！{link}",
                with_card=True, show_name=True, rip="203.0.113.1",
                confirmation_key=uuid.uuid4().hex,
            )  # fmt: skip
            ids.append(share.pk)
    return ids


def start_workers(database_url: str, logs) -> list[subprocess.Popen]:
    env = dict(
        os.environ, DATABASE_URL=database_url, DATABASE_CONN_MAX_AGE="0", LOG_LEVEL="WARNING",
        SHARE_RETRY_BASE_DELAY="1", SHARE_RETRY_MAX_DELAY="4",
    )  # fmt: skip
    processes = []
    for index in range(WORKERS):
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    "1",
                    "--without-mingle",
                    "--without-gossip",
                    "--hostname",
                    f"bench-share-{index}-{uuid.uuid4().hex[:6]}@%h",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
    return processes


def main() -> None:
    server, base = start_sandbox()
    os.environ["WEIBO_API_BASE"] = base
    os.environ["SITE_URL"] = "http://127.0.0.1"
    with bench_environment("share") as database_url:
        from share.models import Share, ShareAttempt

        uids = seed_users(base)
        reference = reference_run(base, uids)
        requests.post(f"{base}/_sandbox/reset", timeout=10)  # users stay; posts and tokens go
        confirm_started = time.monotonic()
        # Confirm with no worker running: the queue is full when the workers start.
        share_ids = confirm_shares(base, uids)
        confirm_seconds = time.monotonic() - confirm_started
        requests.post(
            f"{base}/_sandbox/faults",
            json={"path": "/2/statuses/share.json", "mode": "error", "error_code": 10001,
                  "probability": ERROR_RATE, "seconds": 3600},
            timeout=5,
        )  # fmt: skip

        log_path = BASE_DIR / "var" / "bench-share-workers.log"
        with open(log_path, "ab") as logs:
            workers = start_workers(database_url, logs)
            started = time.monotonic()
            try:
                deadline = started + 600
                while time.monotonic() < deadline:
                    done = Share.objects.filter(
                        pk__in=share_ids, state__in=[Share.State.SENT, Share.State.FAILED]
                    ).count()
                    if done == len(share_ids):
                        break
                    time.sleep(0.5)
                elapsed = time.monotonic() - started
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(30)

        states = Counter(Share.objects.filter(pk__in=share_ids).values_list("state", flat=True))
        retries = ShareAttempt.objects.filter(outcome=ShareAttempt.Outcome.RETRY).count()
        posts = requests.get(f"{base}/_sandbox/posts", timeout=30).json()
        texts = Counter((post["uid"], post["text"]) for post in posts)
        duplicates = sum(count - 1 for count in texts.values() if count > 1)
        expected = set(Share.objects.filter(pk__in=share_ids).values_list("weibo_uid", "text"))
        lost = len(expected - set(texts))
        with_picture = sum(1 for post in posts if post.get("pic"))
        throughput = len(share_ids) / elapsed
        print_table(
            f"{len(share_ids)} shares, {WORKERS} workers, {ERROR_RATE:.0%} injected 10001 errors",
            ["measure", "value"],
            [
                ["confirmations (with card) per second", f"{len(share_ids) / confirm_seconds:.0f}"],
                ["reference: direct posts per second (2 threads)", f"{reference:.0f}"],
                ["posted per second through Celery", f"{throughput:.1f}"],
                ["ratio to reference", f"{throughput / reference:.2f}"],
                ["time to post all", f"{elapsed:.1f} s"],
                ["sent / failed / other", f"{states.get('sent', 0)} / {states.get('failed', 0)} / "
                 f"{sum(states.values()) - states.get('sent', 0) - states.get('failed', 0)}"],
                ["retries after injected errors", str(retries)],
                ["posts on Weibo (with picture)", f"{len(posts)} ({with_picture})"],
                ["duplicates on Weibo", str(duplicates)],
                ["lost (confirmed, never on Weibo)", str(lost)],
            ],
        )  # fmt: skip
    server.shutdown()


if __name__ == "__main__":
    main()
