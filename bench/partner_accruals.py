"""Benchmark: partner accruals per second through the signed HTTP API, against the same
service call made by hand in the same run.

The API path is the whole of it: uvicorn (the production server settings, 2 workers), signature
check (key read, secret decrypted, HMAC), nonce SET NX in Redis, the per-partner rate limit,
the idempotency row, then ``loyalty.services.partner_accrue`` (member and account locks, the
limits query, a pending ledger entry and its pending award). The reference calls
``partner_accrue`` directly from threads, one database connection each. Each worker accrues
for its own member, so no two wait for the same account lock.

Starts embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, and works on a
scratch database that is dropped afterwards. Short by design (the machine may be shared):

    .venv/bin/python -m bench.partner_accruals [--seconds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import uuid

from bench.common import bench_environment, print_table, uvicorn_server
from partners import signing

WORKERS = [1, 4]
API = "/api/partner/v1"


def api_throughput(port: int, key_id: str, secret: str, member_ids: list[str],
                   seconds: float) -> tuple[float, int]:  # fmt: skip
    """Signed accruals per second over keep-alive connections; (rate, non-201 answers)."""
    deadline = time.monotonic() + seconds
    counts = [0] * len(member_ids)
    failed = [0] * len(member_ids)

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        path = f"{API}/members/{member_ids[index]}/accruals"
        body = json.dumps({"amount": 1}).encode()
        while time.monotonic() < deadline:
            headers = signing.sign_headers(
                key_id=key_id, secret=secret, method="POST", path=path, body=body
            )
            headers.update({"Host": "127.0.0.1", "Content-Type": "application/json",
                            "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            counts[index] += 1
            if response.status != 201:
                failed[index] += 1
        conn.close()

    return _run(worker, len(member_ids), counts, failed)


def service_throughput(partner, links: list, seconds: float) -> tuple[float, int]:
    """The same accrual through ``partner_accrue`` by hand; (rate, failures)."""
    from django.db import connection

    from loyalty.services import partner_accrue

    deadline = time.monotonic() + seconds
    counts = [0] * len(links)
    failed = [0] * len(links)

    def worker(index: int) -> None:
        try:
            while time.monotonic() < deadline:
                try:
                    partner_accrue(partner=partner, link=links[index], amount=1,
                                   idempotency_key=uuid.uuid4().hex)  # fmt: skip
                except Exception:  # noqa: BLE001 - counted, the run goes on
                    failed[index] += 1
                counts[index] += 1
        finally:
            connection.close()

    return _run(worker, len(links), counts, failed)


def _run(worker, n: int, counts: list[int], failed: list[int]) -> tuple[float, int]:
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started), sum(failed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="partner accruals per second")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    os.environ["PARTNER_API_RATE_LIMIT"] = str(10**9)  # measure the work, not the limiter
    with bench_environment("partners") as database_url:
        from loyalty import services
        from loyalty.models import Partner, PartnerLink
        from partners.services import partner_key_issue
        from tests.factories import MemberFactory, standard_tiers

        tiers = standard_tiers()
        partner = Partner.objects.create(name="bench", code="bench", shared_fields=[])
        key, secret = partner_key_issue(partner=partner, actor=None)
        links = []
        for _ in range(max(WORKERS) * 2):
            member = MemberFactory(tier=tiers["regular"])
            request, code = services.partner_link_request_create(partner=partner)
            text = services.partner_consent_text(partner)
            links.append(services.partner_link_confirm(
                member=member, code=code, consent_sha256=PartnerLink.digest(text), ip=None
            ))  # fmt: skip
        rows = []
        with uvicorn_server(database_url) as port:
            for workers in WORKERS:
                api_links, own_links = links[:workers], links[max(WORKERS) :][:workers]
                api_rate, api_failed = api_throughput(
                    port, key.key_id, secret, [link.public_id for link in api_links], args.seconds
                )
                service_rate, service_failed = service_throughput(partner, own_links, args.seconds)
                rows.append([workers, f"{api_rate:.0f}", f"{service_rate:.0f}",
                             f"{api_rate / service_rate:.2f}",
                             api_failed + service_failed])  # fmt: skip
        print_table(
            f"Partner accruals per second ({args.seconds:.0f} s each; API: uvicorn, 2 workers)",
            ["concurrent", "signed API /s", "service by hand /s", "API ÷ by hand", "failed"],
            rows,
        )
        from loyalty.selectors import reconcile

        print(f"\nreconcile_points after the run: {len(reconcile())} discrepancies")


if __name__ == "__main__":
    main()
