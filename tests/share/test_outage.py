"""Weibo misbehaves for a minute (5xx pages, timeouts, rate limits) while members share.

A real Celery worker posts 12 shares from 4 members while every call to statuses/share gets a
bare 502 page, an answer slower than our HTTP timeout (which Weibo still acts on), or a 10023
rate-limit error. When the minute is over every share is sent, and the sandbox's own record
shows exactly one post per share: none lost, none duplicated.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import requests

from share import services
from share.models import Share, ShareAttempt
from share.subjects import tier_subject
from tests.conftest import BASE_DIR, database_url_for_current_test_db, wait_until
from tests.share.conftest import make_sharer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]
OUTAGE_SECONDS = 60
# Longer than any wait a healthy share makes here (retry backoff ≤ 8 s, lease 6 s, rate-limit
# window 20 s): a minute and a half with no attempt anywhere means a share was left behind.
STALL_SECONDS = 90


@pytest.fixture
def worker(tmp_path, settings):
    # A queue of its own: the session's shared worker (default timeouts and backoff) stays out.
    settings.SHARE_QUEUE = f"share-outage-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    env = dict(
        os.environ, DATABASE_URL=database_url_for_current_test_db(), DATABASE_CONN_MAX_AGE="0",
        LOG_LEVEL="INFO", WEIBO_HTTP_TIMEOUT="1", SHARE_SENDING_LEASE="6",
        SHARE_RETRY_BASE_DELAY="2", SHARE_RETRY_MAX_DELAY="8", SHARE_MAX_ATTEMPTS="30",
        SHARE_RATE_LIMIT_WINDOW="20",  # a rate-limited share waits for this window to turn
        SHARE_QUEUE=settings.SHARE_QUEUE,  # its retries come back to it, not the shared worker
    )  # fmt: skip
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--without-mingle", "--without-gossip",
             "-Q", settings.SHARE_QUEUE, "--hostname", f"outage-{uuid.uuid4().hex[:8]}@%h"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert wait_until(lambda: b"ready." in log_path.read_bytes(), 60), log_path.read_text()
        yield process
        process.terminate()
        process.wait(30)


def test_shares_complete_after_a_minute_of_weibo_failures(sandbox, club, worker):
    sandbox.fault(mode="http", http_status=502, probability=0.34, seconds=OUTAGE_SECONDS)
    sandbox.fault(mode="slow", delay=2, probability=0.5, seconds=OUTAGE_SECONDS)
    sandbox.fault(mode="error", error_code=10023, seconds=OUTAGE_SECONDS)
    outage_ends = time.monotonic() + OUTAGE_SECONDS

    uids = ["1001000011", "1001000012", "1001000013", "1001000021"]
    shares = []
    for uid in uids:
        member = make_sharer(sandbox, uid=uid, tier=club["tiers"]["gold"])
        subject = tier_subject(member)
        for n in range(3):
            _text, _token, link = services.draft_text(member=member, subject=subject)
            shares.append(
                services.share_confirm(
                    member=member,
                    subject=subject,
                    text=f"第{n + 1}次：我是金卡会员 {link}",
                    with_card=False,
                    show_name=True,
                    rip="203.0.113.5",
                    confirmation_key=uuid.uuid4().hex,
                )  # fmt: skip
            )

    # During the outage nothing is given up (a slow answer may still land and be confirmed).
    time.sleep(max(0.0, min(20.0, outage_ends - time.monotonic() - 5)))
    if time.monotonic() < outage_ends:
        assert not Share.objects.filter(state=Share.State.FAILED).exists()

    # Then every share goes out. The wait is for progress, not for a deadline: a slow machine
    # may take longer, but a share left behind (a retry lost, a queue nobody reads) stops all
    # progress, and that is what fails the test.
    def progress() -> tuple[int, int]:
        return (
            Share.objects.filter(state=Share.State.SENT).count(),
            ShareAttempt.objects.count(),
        )

    seen, changed_at = progress(), time.monotonic()
    while seen[0] < len(shares):
        services.shares_sweep()  # what beat does every minute
        assert not Share.objects.filter(state=Share.State.FAILED).exists()
        assert time.monotonic() - changed_at < STALL_SECONDS, (
            f"no share sent or attempted for {STALL_SECONDS} s: "
            f"{Counter(Share.objects.values_list('state', flat=True))}"
        )
        time.sleep(2)
        now_seen = progress()
        if now_seen != seen:
            seen, changed_at = now_seen, time.monotonic()

    posts = sandbox.posts()
    per_text = Counter((post["uid"], post["text"]) for post in posts)
    assert len(posts) == len(shares)
    assert set(per_text) == {(share.member.weibo_uid, share.text) for share in shares}
    assert max(per_text.values()) == 1
    outcomes = Counter(ShareAttempt.objects.values_list("outcome", flat=True))
    met_outage = outcomes[ShareAttempt.Outcome.RETRY] + outcomes[ShareAttempt.Outcome.RATE_LIMITED]
    assert met_outage >= len(shares)  # each met the outage at least once
    sandbox.clear_faults()
    assert requests.get(f"{sandbox.base}/_sandbox/faults", timeout=5).json() == []
