"""A real Celery worker killed with SIGKILL in the middle of posting: the share is posted once.

The worker is a separate process group (main process and its prefork children) on the test
database and this run's broker queue. The sandbox is told to answer the post slowly, the worker is
killed while it waits for the answer, Weibo (the sandbox) records the post anyway, and after a
restart the share ends up sent — with exactly one post on Weibo.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from share import services
from share.models import Share, ShareAttempt
from share.subjects import subject_for
from tests.conftest import BASE_DIR, database_url_for_current_test_db, wait_until
from tests.share.conftest import make_sharer, register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]
LEASE = 8  # seconds; longer than the sandbox's slow answer below


class KillableWorker:
    def __init__(self, log_path, queue: str) -> None:
        self.log_path = log_path
        self.queue = queue
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db(),
                   DATABASE_CONN_MAX_AGE="0", LOG_LEVEL="INFO",
                   SHARE_SENDING_LEASE=str(LEASE))  # fmt: skip
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--without-mingle", "--without-gossip", "-Q", self.queue,
             "--hostname", f"kill-{uuid.uuid4().hex[:8]}@%h"],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        ready = wait_until(lambda: b"ready." in self.log_path.read_bytes()[start:], timeout=60)
        assert ready, self.log_path.read_text()[-3000:]

    def kill_hard(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(20)
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def worker_factory(tmp_path, settings):
    """Workers on a queue of their own: the session's shared worker must not post these shares."""
    settings.SHARE_QUEUE = f"share-kill-{uuid.uuid4().hex[:8]}"
    workers: list[KillableWorker] = []

    def start() -> KillableWorker:
        worker = KillableWorker(tmp_path / f"worker-{len(workers)}.log", settings.SHARE_QUEUE)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def share_ready(sandbox, club):
    member = make_sharer(sandbox, uid="1001000011", tier=club["tiers"]["platinum"])
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    return member, subject_for(member, kind="item", ref=trip.pk)


def _confirm(member, subject) -> Share:
    text, _token, _link = services.draft_text(member=member, subject=subject)
    return services.share_confirm(
        member=member, subject=subject, text=text, with_card=False, show_name=True,
        rip="198.51.100.4", confirmation_key=uuid.uuid4().hex,
    )  # fmt: skip


def test_worker_killed_mid_flight_posts_exactly_once_after_restart(
    share_ready, sandbox, worker_factory
):
    member, subject = share_ready
    sandbox.fault(mode="slow", delay=5, count=1)  # Weibo takes 5 s to answer the first post
    share = _confirm(member, subject)  # committed: the task message is in the broker
    first = worker_factory()

    claimed = wait_until(
        lambda: Share.objects.filter(pk=share.pk, state=Share.State.SENDING).exists(), 30
    )
    assert claimed, "the worker never started posting"
    time.sleep(2)  # the request is on its way to Weibo, whose answer is 3 s off
    first.kill_hard()

    # Weibo finishes the request it had received: the post exists, our record does not know it.
    assert wait_until(lambda: len(sandbox.posts()) == 1, 15)
    share.refresh_from_db()
    assert share.state == Share.State.SENDING

    # A new worker, and the sweeper once the dead worker's lease has run out.
    worker_factory()
    lease_over = wait_until(
        lambda: Share.objects.get(pk=share.pk).lease_until < timezone.now(), LEASE + 5
    )
    assert lease_over
    assert services.shares_sweep()["dead_worker"] == 1
    assert wait_until(lambda: Share.objects.get(pk=share.pk).state == Share.State.SENT, 30)

    posts = sandbox.posts(uid="1001000011")
    assert len(posts) == 1
    assert posts[0]["text"] == share.text
    outcomes = list(ShareAttempt.objects.filter(share=share).values_list("outcome", flat=True))
    assert outcomes == [ShareAttempt.Outcome.CONFIRMED_REPEAT]  # the killed attempt left no row


def test_a_queued_share_survives_a_worker_restart(share_ready, sandbox, worker_factory):
    member, subject = share_ready
    first = worker_factory()
    first.kill_hard()  # no worker alive when the member confirms
    share = _confirm(member, subject)
    time.sleep(0.5)
    assert Share.objects.get(pk=share.pk).state == Share.State.QUEUED

    worker_factory()
    assert wait_until(lambda: Share.objects.get(pk=share.pk).state == Share.State.SENT, 30)
    assert len(sandbox.posts()) == 1


def test_a_batch_interrupted_by_sigkill_is_posted_exactly_once(sandbox, club, worker_factory):
    from share.subjects import tier_subject

    uids = ["1001000011", "1001000012", "1001000013", "1001000014", "1001000021"]
    sandbox.fault(mode="slow", delay=2, probability=0.5, seconds=120)  # calls in flight to cut
    shares = []
    for uid in uids:
        member = make_sharer(sandbox, uid=uid, tier=club["tiers"]["gold"])
        subject = tier_subject(member)
        for n in range(4):
            _text, _token, link = services.draft_text(member=member, subject=subject)
            shares.append(
                services.share_confirm(
                    member=member,
                    subject=subject,
                    text=f"批量第{n + 1}条 {link}",
                    with_card=False,
                    show_name=True,
                    rip="198.51.100.9",
                    confirmation_key=uuid.uuid4().hex,
                )  # fmt: skip
            )
    first = worker_factory()
    assert wait_until(
        lambda: (
            Share.objects.filter(state=Share.State.SENT).count() >= 3
            and Share.objects.filter(state=Share.State.SENDING).exists()
        ),
        60,
        interval=0.05,
    )
    first.kill_hard()
    interrupted = Share.objects.filter(state=Share.State.SENDING).count()
    assert interrupted >= 1

    worker_factory()

    def all_sent() -> bool:
        # Beat's sweep, as if its grace period had passed: messages the dead worker had reserved
        # (its prefetch and its countdown retries) are never coming back from the broker.
        later = timezone.now() + timedelta(seconds=settings.SHARE_SWEEP_GRACE + LEASE + 1)
        services.shares_sweep(now=later)
        return Share.objects.filter(state=Share.State.SENT).count() == len(shares)

    assert wait_until(all_sent, 120, interval=3)
    posts = sandbox.posts()
    keys = Counter((post["uid"], post["text"]) for post in posts)
    assert len(posts) == len(shares)
    assert max(keys.values()) == 1
    assert set(keys) == {(share.member.weibo_uid, share.text) for share in shares}
