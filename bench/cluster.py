"""Benchmark: requests per second through nginx and PgBouncer, with one and two web processes.

docs/operations.md's deployment as the cluster test (tests/cluster/test_cluster.py) starts it,
with the same helpers (tests/cluster/processes.py), on a scratch database seeded like
``bench.pages`` (10 items, a gold member, a shared link):

- PgBouncer in transaction mode in front of the database (``DATABASE_POOLER=transaction``);
- two web processes, the production command (``config.launcher.web_server_argv``, DEBUG off,
  ``WEB_CONCURRENCY=1``: one uvicorn worker each), reaching PostgreSQL only through PgBouncer;
- nginx with the test's generated config, both web processes in its upstream; then its config
  is regenerated with one upstream server and reloaded (no dead server left in the upstream);
- the reference: one more web process of the same command, straight at PostgreSQL, driven
  without nginx.

Each page is driven with ``wrk`` (2 threads, 16 connections, 5 s a run, after a 1 s warm-up):
``/robots.txt``, the share landing page (an outsider), and a gold member's feed and points page.
Each page is measured straight at the reference process right before each proxy run, and the
faster of its two direct runs is the reference, so a slow moment on the machine never flatters
a ratio. The table gives req/s straight, through the proxy with 1 and with 2 web processes,
the ratios to the direct figure, and the non-2xx responses (and socket errors) of each run.

    .venv/bin/python -m bench.cluster

nginx and PgBouncer come from Debian's packages; without them the bench stops and prints the
``apt-get install`` command. ``wrk`` is installed as ``bench.pages`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import bench_environment, print_table
from bench.pages import CONNECTIONS, SECONDS, Club, Load, check_pages, ensure_wrk, seed, wrk
from tests.cluster.processes import (
    INSTALL,
    NGINX,
    PGBOUNCER,
    Proc,
    http_ok,
    listening_ports,
    reload_nginx,
    start_nginx,
    start_pgbouncer,
    wait_ready,
)

PAGES = ["robots.txt", "share landing", "feed", "points page"]


def pages(club: Club) -> list[tuple[str, str, str]]:
    """(page, persona, path) of the measured pages, paths taken from ``bench.pages.seed``."""
    chosen = [("robots.txt", "anyone", "/robots.txt")]
    chosen += [entry for entry in club.pages if entry[0] in PAGES]
    return chosen


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def upstream_split(log: Path, offset: int) -> Counter:
    """Requests per upstream server in nginx's access log written after ``offset``."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode().splitlines()
    return Counter(json.loads(line)["upstream"] for line in lines if line.strip())


def measure(database_url: str, club: Club) -> tuple[list[list], str]:
    """Start the setup, drive every page; returns the table's rows and a note on the run."""
    from django.db import connection

    from config.launcher import wait_for_port, web_server_argv

    db = connection.settings_dict
    base = Path(tempfile.mkdtemp(prefix="club-bench-cluster-"))
    base.chmod(0o755)
    procs: list[Proc] = []
    try:
        pgbouncer, pgbouncer_port = start_pgbouncer(base, db)
        procs.append(pgbouncer)
        if not wait_for_port(pgbouncer_port, 15):
            raise RuntimeError(f"PgBouncer did not start:\n{pgbouncer.log()[-3000:]}")
        proxy_port, direct_port, *web_ports = listening_ports(4)
        server_env = dict(os.environ, DEBUG="false", WEB_CONCURRENCY="1",
                          ALLOWED_HOSTS="127.0.0.1,localhost", TRUSTED_PROXIES="127.0.0.1",
                          PGAPPNAME="club-bench-cluster")  # fmt: skip
        server_env.pop("DATABASE_CONN_MAX_AGE", None)
        server_env.pop("DATABASE_POOLER", None)
        user = db.get("USER") or "postgres"
        through_pgbouncer = f"postgres://{user}@127.0.0.1:{pgbouncer_port}/{db['NAME']}"
        pooled = dict(server_env, DATABASE_POOLER="transaction", DATABASE_URL=through_pgbouncer)
        direct = dict(server_env, DATABASE_URL=database_url)
        servers = {f"web{index}": (port, pooled) for index, port in enumerate(web_ports)}
        servers["direct"] = (direct_port, direct)
        for name, (port, env) in servers.items():
            proc = Proc(name, web_server_argv(host="127.0.0.1", port=port, workers=1), env,
                        base / f"{name}.log")  # fmt: skip
            proc.start()
            procs.append(proc)
        for proc in procs[1:]:
            robots = f"http://127.0.0.1:{servers[proc.name][0]}/robots.txt"
            wait_ready(proc, lambda url=robots: http_ok(url))
        nginx = start_nginx(base, proxy_port, web_ports)
        procs.append(nginx)
        wait_ready(nginx, lambda: http_ok(f"http://127.0.0.1:{proxy_port}/robots.txt"))

        load_before = load_average()
        access_log = base / "nginx" / "access.log"
        results: dict[str, dict[str, Load]] = {page: {} for page, _persona, _path in pages(club)}
        splits: dict[int, Counter] = {}
        for count in (2, 1):
            if count == 1:
                reload_nginx(nginx, proxy_port, web_ports[:1])
            offset = access_log.stat().st_size
            for page, persona, path in pages(club):
                cookie = club.cookie if persona == "gold member" else ""
                for key, port in ((f"direct{count}", direct_port), (str(count), proxy_port)):
                    wrk(port, path, cookie=cookie, seconds=1)  # warm up
                    results[page][key] = wrk(port, path, cookie=cookie)
            splits[count] = upstream_split(access_log, offset)
        load_after = load_average()
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(base, ignore_errors=True)

    rows = []
    for page, persona, _path in pages(club):
        runs = results[page]
        reference = max(runs["direct2"], runs["direct1"], key=lambda load: load.rps)
        one, two = runs["1"], runs["2"]
        rows.append([
            page, persona, f"{reference.rps:.0f}", f"{one.rps:.0f}",
            f"{one.rps / reference.rps:.2f}", f"{two.rps:.0f}", f"{two.rps / reference.rps:.2f}",
            f"{two.rps / one.rps:.2f}",
            " / ".join(str(runs[key].bad) for key in ("direct2", "direct1", "1", "2")),
        ])  # fmt: skip
    names = {f"127.0.0.1:{port}": f"web{index}" for index, port in enumerate(web_ports)}

    def split(counter: Counter) -> str:
        total = sum(counter.values()) or 1
        return ", ".join(
            f"{names.get(upstream, upstream)} {100 * n / total:.0f} %"
            for upstream, n in sorted(counter.items())
        )

    note = (
        f"requests through the proxy with 2 web processes: {split(splits[2])}; with 1: "
        f"{split(splits[1])}. Load average (1, 5, 15 min) before the runs: {load_before}; "
        f"after: {load_after}"
    )
    return rows, note


def main() -> None:
    if NGINX is None or PGBOUNCER is None:
        raise SystemExit(f"bench.cluster needs nginx and PgBouncer; install them: {INSTALL}")
    ensure_wrk()
    with bench_environment("cluster") as database_url:
        club = seed()
        check_pages(club)
        rows, note = measure(database_url, club)

    from config.launcher import web_server_description

    print_table(
        f"Through nginx and PgBouncer (transaction mode), each web process "
        f"{web_server_description(1)}; wrk 2 threads, {CONNECTIONS} connections, {SECONDS} s "
        f"a run; direct = one more such process straight at PostgreSQL, no proxy",
        ["page", "persona", "direct req/s", "1 web req/s", "1 / direct", "2 web req/s",
         "2 / direct", "2 / 1", "non-2xx (direct, direct, 1, 2)"],
        rows,
    )  # fmt: skip
    print(f"\n{note}")


if __name__ == "__main__":
    main()
