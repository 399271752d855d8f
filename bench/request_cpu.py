"""Benchmark: CPU per request for the main pages, in the web thread and in its PostgreSQL
backend.

``bench.request_cost`` times requests by the wall clock, which on 2 shared cores moves with
whatever else runs. This one counts CPU time instead: the web thread's own (``thread_time``)
and the PostgreSQL backend's serving it (from ``/proc``), over the same pages and data as
``bench.pages``, through the project's WSGI handler (the whole middleware stack, DEBUG off).
Each page: best of 3 rounds of 1,500 requests.

    .venv/bin/python -m bench.request_cpu
"""

from __future__ import annotations

import os
import time

from bench.common import bench_environment, print_table
from bench.request_cost import environ, seeded_pages

ROUNDS, PER_ROUND = 3, 1500


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "3600")  # one backend for the whole run
    with bench_environment("request-cpu"):
        from django.db import connection

        from config.handlers import wsgi_application

        pages = seeded_pages()
        app = wsgi_application()

        def start_response(status, headers, exc_info=None):
            pass

        def serve(path: str, cookie: str) -> None:
            b"".join(app(environ(path, cookie), start_response))

        for _ in range(200):  # warm: caches, prepared statements, the copies of kept pages
            for _page, _persona, path, cookie in pages:
                serve(path, cookie)
        best: dict[int, tuple[float, float]] = {}
        for _ in range(ROUNDS):
            for index, (_page, _persona, path, cookie) in enumerate(pages):
                serve(path, cookie)
                backend = connection.connection.get_backend_pid()
                web, database = time.thread_time(), process_cpu_seconds(backend)
                for _ in range(PER_ROUND):
                    serve(path, cookie)
                web = (time.thread_time() - web) / PER_ROUND * 1000
                database = (process_cpu_seconds(backend) - database) / PER_ROUND * 1000
                if index not in best or web + database < sum(best[index]):
                    best[index] = (web, database)
    reference = sum(best[0])
    rows = [[page, persona, f"{best[i][0]:.3f}", f"{best[i][1]:.3f}", f"{sum(best[i]):.3f}",
             f"{reference / sum(best[i]):.3f}"]
            for i, (page, persona, _path, _cookie) in enumerate(pages)]  # fmt: skip
    print_table(
        f"CPU per request, in process (best of {ROUNDS} × {PER_ROUND}; ratio = anonymous "
        "/robots.txt ÷ page)",
        ["page", "persona", "web ms", "PostgreSQL ms", "total ms", "robots.txt / page"],
        rows,
    )


if __name__ == "__main__":
    main()
