"""Benchmark: the site's main pages through the production web server, driven by ``wrk``.

One run starts the production server setup (``config.launcher.web_server_argv``, the command
the Procfile and ``./run`` use; DEBUG off, real settings, static files collected) on a scratch
database seeded like the demo club, then drives each page over HTTP with ``wrk`` (a real load
generator: C, keep-alive, no Python in the client's hot loop) and prints, for each page, its
requests per second as a ratio to ``/robots.txt`` on the same server in the same run:

- outsiders: the share landing page (``/s/<token>/``), the teaser of a gated item, the
  community home (targets: ≥ 0.5 of ``/robots.txt``);
- a 金卡 (gold) member: the feed, an item page, the points page (targets: ≥ 0.2).

The reference for ``/robots.txt`` itself is a bare Django view: the same view function served by
the same server command with the same worker count, under ``bench.bare_settings`` (the
project's settings with ``MIDDLEWARE = []`` and a one-URL urlconf). The two servers run one
after the other; the difference is what the middleware stack costs (target: ≥ 0.5).

Then SQL queries per member page at 10, 100 and 1,000 items, in process with Django's test
client (they must stay flat, ≤ 10).

    .venv/bin/python -m bench.pages                 # the production setup
    .venv/bin/python -m bench.pages --compare       # also every other server setup considered

``wrk`` comes from Debian's packages: the bench installs it with apt-get when it is missing and
it runs as root, and otherwise asks for it. ``wrk`` and the server share the machine: the
client gets 2 threads and 16 connections, 5 seconds per page, in two rounds (the best of each
page's and of ``/robots.txt``'s runs is used). The freshly seeded database is vacuumed,
analysed and checkpointed before anything is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.common import BASE_DIR, bench_environment, count_queries, print_table

SIZES = [10, 100, 1000]
WORKERS = 2
SECONDS = 5
ROUNDS = 2
CONNECTIONS = 16


def ensure_wrk() -> str:
    """The path of ``wrk``, installed from Debian's packages when missing and possible."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("[bench] installing wrk (apt-get)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench.pages needs wrk: install it (Debian: apt-get install wrk)")
    return found


@dataclass
class Load:
    rps: float
    bad: int  # non-2xx/3xx responses and socket errors
    requests: int


def wrk(port: int, path: str, *, cookie: str = "", seconds: int = SECONDS) -> Load:
    argv = [ensure_wrk(), "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    if cookie:
        argv += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)  # fmt: skip
    if errors:
        bad += sum(int(n) for n in errors.groups())
    return Load(rps, bad, requests)


# --- Server setups ------------------------------------------------------------------------------


def production_argv(port: int) -> list[str]:
    from config.launcher import web_server_argv

    return web_server_argv(host="127.0.0.1", port=port, workers=WORKERS)


def django_asgi_argv(port: int) -> list[str]:
    """uvicorn as in production, but HTTP through Django's ASGI handler (``bench.django_asgi``,
    how the site was served before): every sync view hops to a thread of its own."""
    return [sys.executable, "-m", "uvicorn", "bench.django_asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(WORKERS), "--lifespan", "off",
            "--no-access-log", "--no-proxy-headers", "--log-level", "warning"]  # fmt: skip


def gunicorn_wsgi_argv(port: int) -> list[str]:
    """HTTP only under WSGI (gunicorn gthread): no websockets, a reference for plain HTTP."""
    return [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
            f"127.0.0.1:{port}", "--workers", str(WORKERS), "--worker-class", "gthread",
            "--threads", "8", "--log-level", "warning"]  # fmt: skip


SETUPS: dict[str, Callable[[int], list[str]]] = {
    "production": production_argv,
    "uvicorn, HTTP through Django's ASGI handler": django_asgi_argv,
    "gunicorn gthread, WSGI (no websockets)": gunicorn_wsgi_argv,
}


@contextlib.contextmanager
def server(argv_for: Callable[[int], list[str]], database_url: str, *,
           settings_module: str = "config.settings", extra_env: dict | None = None,
           ) -> Iterator[int]:  # fmt: skip
    """A web server child process on a free loopback port; yields the port once it answers."""
    import requests

    from config.launcher import free_port

    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, DEBUG="false",
               DJANGO_SETTINGS_MODULE=settings_module, ALLOWED_HOSTS="127.0.0.1,localhost",
               **(extra_env or {}))  # fmt: skip
    log = tempfile.TemporaryFile()  # the server's errors, shown if it does not start
    process = subprocess.Popen(argv_for(port), cwd=BASE_DIR, env=env, start_new_session=True,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/robots.txt", timeout=2).ok:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                sys.stderr.write(log.read()[-3000:].decode(errors="replace"))
                raise RuntimeError(f"the web server did not start: {argv_for(port)}")
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


# --- Data ---------------------------------------------------------------------------------------


@dataclass
class Club:
    cookie: str
    client: object
    pages: list[tuple[str, str, str]]  # (page, persona, path)
    member_pages: list[tuple[str, str]]  # (page, path) for the query counts


def seed() -> Club:
    """Demo-like tiers, the community structure, 10 items, a gold member and a shared link."""
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from bench.community_feed import add_items
    from community import demo
    from community.models import CommunityHome, PostPage
    from loyalty.models import PointsAccount
    from share.models import Share
    from share.services import link_token, share_link
    from tests.factories import MemberFactory, standard_tiers

    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    add_items(home, tiers, 0, SIZES[0])
    member = MemberFactory(tier=tiers["gold"])
    PointsAccount.objects.get_or_create(member=member)
    sharer = MemberFactory(tier=tiers["platinum"])
    gold_item = PostPage.objects.get(slug="bench-2")  # gold tier: teaser for outsiders
    token = link_token(member=sharer, subject_key=f"item:{gold_item.pk}")
    Share.objects.create(
        member=sharer, kind=Share.Kind.ITEM, item=gold_item, subject_key=f"item:{gold_item.pk}",
        subject_title=gold_item.title, text=f"{gold_item.title} {share_link(token)}",
        token=token, link=share_link(token), rip="203.0.113.8", confirmation_key="bench",
        state=Share.State.SENT, sent_at=timezone.now(), weibo_status_id="4990000000000001",
    )  # fmt: skip
    client = Client()
    client.force_login(member.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    item_url = gold_item.url
    pages = [
        ("share landing", "outsider", f"/s/{token}/"),
        ("teaser of a gated item", "outsider", item_url),
        ("community home", "outsider", "/community/"),
        ("feed", "gold member", "/community/"),
        ("item page", "gold member", item_url),
        ("points page", "gold member", "/points/"),
    ]
    member_pages = [(page, path) for page, persona, path in pages if persona == "gold member"]
    return Club(cookie, client, pages, member_pages)


def check_pages(club: Club) -> None:
    """Every measured page answers 200 to its persona (not a redirect to the login)."""
    from django.test import Client

    outsider = Client()
    for page, persona, path in club.pages:
        client = club.client if persona == "gold member" else outsider
        status = client.get(path).status_code
        if status != 200:
            raise SystemExit(f"{page} ({persona}) {path} answered {status}")
    # What a member's browser sends after its first page: the session and the CSRF cookie.
    club.cookie = "; ".join(
        f"{name}={morsel.value}" for name, morsel in club.client.cookies.items()
    )


# --- Measurements -------------------------------------------------------------------------------


def settle_database() -> None:
    """Let PostgreSQL finish what a fresh seed sets off before anything is timed.

    Right after seeding, autovacuum and autoanalyze wake up on every table the seed filled and
    a checkpoint writes its pages; on a 2-core machine that work lands in whichever page's
    five seconds it happens to fall. Doing it first keeps it out of every measurement.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def best(loads: list[Load]) -> Load:
    return max(loads, key=lambda load: load.rps)


def measure_setup(name: str, argv_for, database_url: str, club: Club) -> tuple[list, list]:
    """robots.txt against the bare view, then every page; returns (reference row, page rows).

    Every page, and ``/robots.txt`` between rounds, is measured ``ROUNDS`` times, and each
    one's best run is used: something else on the machine (a daemon, the kernel) slows a run
    now and then, and taking the best for the reference and the pages alike keeps such a
    pause out of the ratios, in both directions.
    """
    with server(argv_for, database_url, settings_module="bench.bare_settings") as port:
        wrk(port, "/robots.txt", seconds=1)  # warm up
        bare_runs = [wrk(port, "/robots.txt") for _round in range(ROUNDS)]
        bare = best(bare_runs)
    with server(argv_for, database_url) as port:
        wrk(port, "/robots.txt", seconds=1)
        for _page, persona, path in club.pages:  # warm up: a member's copies, every process
            wrk(port, path, cookie=club.cookie if persona == "gold member" else "", seconds=1)
        references = [wrk(port, "/robots.txt")]
        runs: dict[str, list[Load]] = {page: [] for page, _persona, _path in club.pages}
        for _round in range(ROUNDS):
            for page, persona, path in club.pages:
                cookie = club.cookie if persona == "gold member" else ""
                runs[page].append(wrk(port, path, cookie=cookie))
            references.append(wrk(port, "/robots.txt"))
        robots = best(references)
        rows = []
        for page, persona, _path in club.pages:
            load, bad = best(runs[page]), sum(run.bad for run in runs[page])
            target = 0.2 if persona == "gold member" else 0.5
            rows.append([page, persona, f"{load.rps:.0f}", f"{load.rps / robots.rps:.3f}",
                         f"≥ {target}", bad])  # fmt: skip
    reference = [name, f"{bare.rps:.0f}", f"{robots.rps:.0f}", f"{robots.rps / bare.rps:.3f}",
                 sum(run.bad for run in [*bare_runs, *references])]  # fmt: skip
    return reference, rows


def query_counts(club: Club) -> list[list]:
    from bench.community_feed import add_items
    from community.models import CommunityHome
    from members.models import Tier

    tiers = {tier.code: tier for tier in Tier.objects.all()}
    home = CommunityHome.objects.get()
    rows = []
    created = SIZES[0]
    for size in SIZES:
        add_items(home, tiers, created, size)
        created = size
        counts = []
        for _page, path in club.member_pages:
            club.client.get(path)  # warm caches a real member would have warm too
            counts.append(count_queries(lambda p=path: club.client.get(p)))
        rows.append([size, *counts])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compare", action="store_true",
                        help="also measure every other server setup considered")  # fmt: skip
    args = parser.parse_args()
    ensure_wrk()
    with bench_environment("pages") as database_url:
        club = seed()
        check_pages(club)
        settle_database()
        setups = SETUPS if args.compare else {"production": SETUPS["production"]}
        references, production_rows = [], []
        for name, argv_for in setups.items():
            reference, rows = measure_setup(name, argv_for, database_url, club)
            references.append(reference)
            if name == "production":
                production_rows = rows
        queries = query_counts(club)

    from config.launcher import web_server_description

    print_table(
        f"Production server ({web_server_description(WORKERS)}); wrk 2 threads, "
        f"{CONNECTIONS} connections, {SECONDS} s per page, best of {ROUNDS} rounds, "
        f"{SIZES[0]} items",
        ["page", "persona", "req/s", "/ robots.txt", "target", "non-2xx"],
        production_rows,
    )
    print_table(
        "/robots.txt through the whole middleware stack vs the same view bare (target ≥ 0.5)",
        ["server setup", "bare view req/s", "robots.txt req/s", "robots / bare", "non-2xx"],
        references,
    )
    print_table(
        "SQL queries per member page (gold member, in process; target ≤ 10, flat)",
        ["items", *(page for page, _path in club.member_pages)],
        queries,
    )


if __name__ == "__main__":
    main()
