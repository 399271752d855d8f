"""The command line: start-up line, speed, environment fallbacks, required options."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_cli_starts_fast_and_reads_the_environment(tmp_path):
    env = dict(
        os.environ,
        WEIBO_APP_KEY="5550001",
        WEIBO_APP_SECRET="cli-secret",
        WEIBO_SANDBOX_REDIRECT_URIS="http://a.test/cb/, http://b.test/cb/",
        WEIBO_SANDBOX_SAFE_DOMAIN="a.test",
        WEIBO_SANDBOX_PORT="1",  # overridden by --port below
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "weibo_sandbox", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        elapsed = time.monotonic() - started
        assert line.startswith("weibo sandbox listening on http://127.0.0.1:")
        assert elapsed < 1.5, elapsed
        base = line.rsplit(" ", 1)[1]
        config = requests.get(f"{base}/_sandbox/config", timeout=5).json()
        assert config["app_key"] == "5550001"
        assert config["redirect_uris"] == ["http://a.test/cb/", "http://b.test/cb/"]
        assert config["safe_domain"] == "a.test" and config["persistent"] is True
        assert config["share_hourly_limit"] == 30 and config["token_ttl"] == 157679999
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
    assert (tmp_path / "state.json").exists()


def test_cli_refuses_to_start_without_the_app(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEIBO_")}

    result = subprocess.run(
        [sys.executable, "-m", "weibo_sandbox", "--port", "0", "--app-key", "k"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )

    assert result.returncode == 2
    assert "--app-secret" in result.stderr and "--safe-domain" in result.stderr
