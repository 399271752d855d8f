"""One beat, enforced: two beat processes send each scheduled job once, and a takeover after
the holder dies neither stops the schedule nor repeats a job the dead holder already sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from base64 import b64decode
from pathlib import Path

import pytest
import redis
from django.conf import settings

from config.celery import app
from tests.conftest import BASE_DIR, wait_until

pytestmark = pytest.mark.worker


class Beat:
    """A real ``celery beat`` child process on the probe schedule (tests/core/beat_app.py)."""

    def __init__(self, tmp_path: Path, name: str, prefix: str, lease: int) -> None:
        self.log_path = tmp_path / f"{name}.log"
        env = dict(os.environ, REDIS_PREFIX=prefix, BEAT_LEASE_SECONDS=str(lease),
                   LOG_LEVEL="INFO")  # fmt: skip
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.core.beat_app", "beat",
             "--loglevel", "INFO", "--schedule", str(tmp_path / f"{name}-schedule")],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def holds_lease(self) -> bool:
        return b"holds the lease" in self.log_path.read_bytes()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def probe(tmp_path):
    """Start beats on a Redis prefix of their own; ``sent()`` lists the probe jobs they sent."""
    prefix = f"beattest-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = f"{prefix}:celery:{app.conf.task_default_queue}"  # kombu's list for the queue
    beats: list[Beat] = []

    class Probe:
        def start(self, name: str, lease: int = 2) -> Beat:
            beat = Beat(tmp_path, name, prefix, lease)
            beats.append(beat)
            return beat

        def sent(self) -> list[str]:
            kinds = []
            for raw in client.lrange(queue, 0, -1):
                message = json.loads(raw)
                args = json.loads(b64decode(message["body"]))[0]
                kinds.append(args[0])
            return kinds

    yield Probe()
    for beat in beats:
        beat.stop()
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_two_beats_send_each_job_once(probe):
    first, second = probe.start("first"), probe.start("second")
    assert wait_until(lambda: probe.sent().count("second") >= 1, timeout=30)
    started = time.monotonic()
    time.sleep(8)
    elapsed = time.monotonic() - started
    per_second = probe.sent().count("second")

    # One beat sends the every-second job about once a second; two unleased beats send it twice.
    assert per_second <= elapsed + 2, f"{per_second} sends in {elapsed:.0f} s: more than one beat"
    assert per_second >= elapsed - 3, f"{per_second} sends in {elapsed:.0f} s: the schedule stalled"
    assert [first.holds_lease(), second.holds_lease()].count(True) == 1


def test_a_waiting_beat_takes_over_without_repeating_what_the_holder_sent(probe):
    holder = probe.start("holder", lease=1)
    assert wait_until(holder.holds_lease, timeout=30)
    standby = probe.start("standby", lease=1)
    # The holder sends the slow job 6 s after it started; then it dies without a goodbye.
    assert wait_until(lambda: "slow" in probe.sent(), timeout=30)
    slow_sent_at = time.monotonic()
    holder.stop(signal.SIGKILL)
    assert not standby.holds_lease()

    assert wait_until(standby.holds_lease, timeout=15), "the standby never took over"
    seconds_before = probe.sent().count("second")
    assert wait_until(lambda: probe.sent().count("second") >= seconds_before + 2, timeout=15)

    # The standby's own schedule says the slow job is overdue since its start; it adopted the
    # holder's last run instead, so the next slow send comes a full period after the last one.
    assert wait_until(lambda: probe.sent().count("slow") >= 2, timeout=20)
    assert time.monotonic() - slow_sent_at >= 5, "the slow job was sent again at takeover"
