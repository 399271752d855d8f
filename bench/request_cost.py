"""Benchmark: what one request to each main page costs inside the web process.

``bench.pages`` measures the pages over HTTP, where the server, the load generator, PostgreSQL
and Redis share the machine. This one calls the project's WSGI handler directly (the whole
middleware stack, DEBUG off, the same data as ``bench.pages``), so the figures are the
project's own work per request: milliseconds per request (best of 6 batches of 100) and the
ratio to an anonymous ``/robots.txt`` in the same run, plus ``/robots.txt`` asked by the
signed-in member, which shows what signing in costs by itself (the session, the user read).

    .venv/bin/python -m bench.request_cost
"""

from __future__ import annotations

import io
import time

from bench.common import bench_environment, print_table

BATCHES, PER_BATCH = 6, 100


def environ(path: str, cookie: str) -> dict:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_COOKIE": cookie, "HTTP_ACCEPT_LANGUAGE": "zh-CN",
        "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1",
    }  # fmt: skip


def per_request_ms(app, path: str, cookie: str) -> tuple[float, str, str]:
    """(best milliseconds per request, status, X-Page-Cache) over a few batches."""
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    def batch() -> float:
        started = time.perf_counter()
        for _ in range(PER_BATCH):
            b"".join(app(environ(path, cookie), start_response))
        return (time.perf_counter() - started) / PER_BATCH * 1000

    batch()  # warm up: fill the caches a returning visitor would find warm
    best = min(batch() for _ in range(BATCHES))
    return best, seen["status"].split()[0], seen["headers"].get("X-Page-Cache", "-")


def seeded_pages() -> list[tuple[str, str, str, str]]:
    """Seed the club as ``bench.pages`` does and list (page, persona, path, cookie): the
    anonymous and the member's ``/robots.txt`` first, then the bench's pages."""
    from bench.pages import check_pages, seed

    club = seed()
    check_pages(club)
    pages = [("/robots.txt", "outsider", "/robots.txt", ""),
             ("/robots.txt", "gold member", "/robots.txt", club.cookie)]  # fmt: skip
    pages += [(page, persona, path, club.cookie if persona == "gold member" else "")
              for page, persona, path in club.pages]  # fmt: skip
    return pages


def main() -> None:
    with bench_environment("request-cost"):
        from config.handlers import wsgi_application

        pages = seeded_pages()
        app = wsgi_application()
        results = [(page, persona, *per_request_ms(app, path, cookie))
                   for page, persona, path, cookie in pages]  # fmt: skip
    reference = results[0][2]
    rows = [[page, persona, f"{ms:.3f}", f"{reference / ms:.3f}", status, cache]
            for page, persona, ms, status, cache in results]  # fmt: skip
    print_table(
        "One request through the whole middleware stack, in process (best of "
        f"{BATCHES} × {PER_BATCH}; ratio = anonymous /robots.txt ms ÷ page ms)",
        ["page", "persona", "ms", "robots.txt / page", "status", "X-Page-Cache"],
        rows,
    )


if __name__ == "__main__":
    main()
