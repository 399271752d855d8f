"""Benchmark: the member feed and a post page as a gold member, with 10, 100 and 1,000 items.

Prints SQL queries per page (must not grow with the number of items), median render time in
process, and throughput under the production server settings (uvicorn, 2 workers, DEBUG off)
as a ratio to a constant-response view (/robots.txt) measured in the same run.

    .venv/bin/python -m bench.community_feed
"""

from __future__ import annotations

from bench.common import (
    bench_environment,
    count_queries,
    http_throughput,
    median_ms,
    print_table,
    uvicorn_server,
)

SIZES = [10, 100, 1000]


def add_items(home, tiers, start: int, stop: int) -> None:
    from community.models import PostPage

    rules = ["members", "silver", "gold", "platinum"]
    for index in range(start, stop):
        rule = rules[index % 4]
        post = PostPage(
            title=f"文章 {index}",
            slug=f"bench-{index}",
            summary=f"第 {index} 篇会员文章的摘要",
            access="members" if rule == "members" else "min_tier",
            min_tier=None if rule == "members" else tiers[rule],
            body=[("paragraph", f"<p>开头 {index}</p>" * 3), ("paywall", None),
                  ("paragraph", f"<p>会员内容 {index}</p>" * 10)],
        )  # fmt: skip
        home.add_child(instance=post)
        post.save_revision().publish()


def main() -> None:
    with bench_environment("community") as database_url:
        from django.conf import settings
        from django.test import Client

        from community import demo
        from community.models import CommunityHome, PostPage
        from tests.factories import MemberFactory, standard_tiers

        tiers = standard_tiers()
        demo.load_structure()
        home = CommunityHome.objects.get()
        member = MemberFactory(tier=tiers["gold"])
        client = Client()
        client.force_login(member.user)
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

        rows, server_rows = [], []
        created = 0
        for size in SIZES:
            add_items(home, tiers, created, size)
            created = size
            post_url = PostPage.objects.get(slug="bench-2").url  # a gold item: full access
            measures = []
            for label, path in [("feed /community/", "/community/"), ("post page", post_url)]:
                assert client.get(path).status_code == 200, path
                queries = count_queries(lambda p=path: client.get(p))
                measures.append((label, queries, median_ms(lambda p=path: client.get(p))))
            for label, queries, ms in measures:
                rows.append([size, label, queries, f"{ms:.1f}"])

            with uvicorn_server(database_url) as port:
                reference, _ = http_throughput(port, "/robots.txt", seconds=3)
                feed_rps, feed_errors = http_throughput(port, "/community/", cookie=cookie,
                                                        seconds=3)  # fmt: skip
                post_rps, post_errors = http_throughput(port, post_url, cookie=cookie, seconds=3)
            server_rows.append([
                size, f"{reference:.0f}", f"{feed_rps:.0f}", f"{feed_rps / reference:.3f}",
                f"{post_rps:.0f}", f"{post_rps / reference:.3f}", feed_errors + post_errors,
            ])  # fmt: skip

        print_table("In process, gold member (Django test client)",
                    ["items", "page", "SQL queries", "median ms"], rows)  # fmt: skip
        print_table(
            "Production server settings (uvicorn, 2 workers, 8 keep-alive clients, 3 s each)",
            ["items", "robots.txt rps (ref)", "feed rps", "feed / ref", "post rps",
             "post / ref", "non-200"],
            server_rows,
        )  # fmt: skip


if __name__ == "__main__":
    main()
