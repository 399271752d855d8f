"""Fixtures shared by the whole suite: real PostgreSQL, Redis, Celery worker and Weibo sandbox.

Nothing of our own is mocked. The test command starts PostgreSQL, Redis and the Weibo sandbox
(or uses DATABASE_URL / REDIS_URL); a real Celery worker process is started on demand for tests
whose behaviour depends on one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent


def database_url_for_current_test_db() -> str:
    """The DATABASE_URL of the test database pytest-django created, for child processes."""
    from django.db import connection

    from config.launcher import database_url_for

    return database_url_for(connection.settings_dict)


class WorkerProcess:
    """A real ``celery worker`` child process bound to the test database."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        env = dict(os.environ, DATABASE_URL=database_url_for_current_test_db())
        env["DATABASE_CONN_MAX_AGE"] = "0"
        env["LOG_LEVEL"] = "INFO"  # the readiness line is logged at INFO
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--loglevel", "INFO", "--concurrency", "2", "--without-mingle",
                "--without-gossip", "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("celery worker did not start:\n" + self.log_path.read_text()[-3000:])

    def kill(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True, scope="session")
def _audit_table_emptied_between_tests():
    """Tests that commit are cleaned up with one TRUNCATE of every table, and the audit table's
    trigger refuses TRUNCATE (core migration 0009): the clean-up switches that one trigger off
    for its own statement, as a table owner doing maintenance would."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush
    trigger = "ALTER TABLE core_auditentry {} TRIGGER core_auditentry_no_truncate"

    def execute_sql_flush(self, sql_list):
        return original(self, [trigger.format("DISABLE"), *sql_list, trigger.format("ENABLE")])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _fresh_page_cache():
    """Each test starts with no valid cached page: tests reuse the same URLs and slugs."""
    from core import pagecache

    pagecache._bump_now()


@pytest.fixture(autouse=True)
def _fresh_consent_baseline():
    """Each test reads the consent baseline from its own database: a web process remembers it
    for a few seconds, and a test's rolled-back publication must not outlive the test."""
    from members import selectors

    selectors.consent_baseline_forget()


def wait_until(predicate, timeout: float = 20, interval: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value (returned) or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def weibo_sandbox_url() -> str:
    """The Weibo sandbox the test command started; the site is configured to talk to it."""
    base = settings.WEIBO_API_BASE
    response = requests.get(f"{base}/_sandbox/health", timeout=5)
    assert response.ok, "the Weibo sandbox is not running; use ./test"
    return base


@pytest.fixture
def weibo_sandbox(weibo_sandbox_url):
    """A clean sandbox for one test (posts, tokens, faults cleared; default users kept)."""
    requests.post(f"{weibo_sandbox_url}/_sandbox/reset", timeout=5).raise_for_status()
    yield weibo_sandbox_url
    requests.delete(f"{weibo_sandbox_url}/_sandbox/faults", timeout=5)


@pytest.fixture
def landing_site(db):
    """The public landing page as the site root, as the demo installs it."""
    from community import demo

    demo.load_structure()
