"""Benchmark: reward redemption throughput, and member pages over a long ledger.

1. Redemptions per second with 1, 8 and 32 concurrent workers (threads, one database
   connection each; every worker is its own member, all redeem the same reward, so the reward's
   stock row is the contended lock) through ``loyalty.services.reward_redeem``, beside the same
   SQL transaction shape written by hand with raw psycopg2 in the same run: that is the physical
   limit of this machine's PostgreSQL for this locking pattern. Both paths lock the account,
   read the reward without a lock, write the ledger, and reserve the stock last with one
   conditional ``UPDATE ... RETURNING`` (no row: sold out, roll back); the raw statements are
   kept the same as the service's so the comparison stays fair.
2. Median time and SQL queries of the balance page (/points/) and the history page
   (/points/history/, first page and a page deep in the keyset) for a member with 10 ledger
   entries and one with 100,000 (bulk-inserted with COPY): they must be flat.

Starts embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, and works on a
scratch database that is dropped afterwards.

    .venv/bin/python -m bench.loyalty_redemption
"""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta

from bench.common import bench_environment, median_ms, print_table

WORKERS = [1, 8, 32]
SECONDS = 3.0
COST = 10
LONG_HISTORY = 100_000
PAGE_REPEAT = 25


# --- Raw psycopg2: the same transaction shape as the service ------------------------------------
# Keep these in step with the statements the service issues (``core.locking``, the ledger's SQL
# in ``loyalty.services._core`` and the stock reservation in ``loyalty.services.rewards``), so
# the comparison stays fair. Like ``core.locking.lock_execute``, a statement that takes a lock
# sets the lock timeout in the same round trip.
RAW_LOCK_ACCOUNT = """SET LOCAL lock_timeout = 5000;
SELECT a.id, a.balance, a.pending, a.lifetime_earned, m.id, m.user_id, m.state, m.tier_id, t.rank
FROM loyalty_pointsaccount a JOIN members_member m ON m.id = a.member_id
LEFT JOIN members_tier t ON t.id = m.tier_id WHERE a.member_id = %s FOR NO KEY UPDATE OF a"""
RAW_READ_REWARD = "SELECT * FROM loyalty_reward WHERE id = %s"
RAW_DUE_LOTS = """
SELECT id FROM loyalty_pointslot
WHERE account_id = %s AND remaining > 0 AND expires_at <= %s ORDER BY expires_at, id"""
RAW_LIMITS = """
SELECT COUNT(*), COUNT(*) FILTER (WHERE created_at >= %s) FROM loyalty_redemption
WHERE account_id = %s AND reward_id = %s AND state IN ('requested', 'fulfilled')"""
RAW_REDEMPTION = """
INSERT INTO loyalty_redemption (account_id, reward_id, cost, state, idempotency_key,
    shipping_name, shipping_phone, shipping_address, staff_note, fulfil_by, created_at,
    close_reason)
VALUES (%s, %s, %s, 'requested', '', '', '', '', '', %s, %s, '') RETURNING id"""
RAW_ACCOUNT = "UPDATE loyalty_pointsaccount SET balance = balance - %s WHERE id = %s"
RAW_ENTRY = """
INSERT INTO loyalty_pointsentry (account_id, amount, bucket, kind, reason, reference_type,
    reference_id, redemption_id, idempotency_key, balance_after, created_at)
VALUES (%s, %s, 'available', 'redeem', 'bench', 'loyalty.redemption', %s, %s, %s, %s, %s)
RETURNING id"""
RAW_LIVE_LOTS = """
SELECT id, remaining FROM loyalty_pointslot
WHERE account_id = %s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %s)
AND id <> ALL(%s::bigint[]) ORDER BY expires_at ASC NULLS LAST, id LIMIT %s"""
RAW_TAKE = """
WITH taken AS (UPDATE loyalty_pointslot AS l SET remaining = l.remaining - t.amount
    FROM unnest(%s::bigint[], %s::integer[]) AS t(lot_id, amount) WHERE l.id = t.lot_id)
INSERT INTO loyalty_lotconsumption (entry_id, lot_id, amount)
SELECT %s, lot_id, amount FROM unnest(%s::bigint[], %s::integer[]) AS t(lot_id, amount)"""
RAW_RESERVE = """SET LOCAL lock_timeout = 5000; UPDATE loyalty_reward SET issued = issued + 1
WHERE id = %s AND (stock_total IS NULL OR issued < stock_total) RETURNING issued"""


def raw_redeem(conn, member_id: int, reward_id: int) -> None:
    now = datetime.now(UTC)
    with conn.cursor() as cur:
        cur.execute(RAW_LOCK_ACCOUNT, [member_id])
        account_id, balance, _pending, _lifetime, _member, _user, state, _tier, _rank = (
            cur.fetchone()
        )
        cur.execute(RAW_READ_REWARD, [reward_id])
        reward = dict(zip([column.name for column in cur.description], cur.fetchone(), strict=True))
        cost, stock_total, issued = reward["cost"], reward["stock_total"], reward["issued"]
        live, per_member, per_period = (
            reward["live"],
            reward["limit_per_member"],
            reward["limit_per_period"],
        )
        cur.execute(RAW_DUE_LOTS, [account_id, now])
        cur.fetchall()
        if per_member is not None or per_period is not None:  # as the service: count if limited
            cur.execute(RAW_LIMITS, [now - timedelta(days=30), account_id, reward_id])
            cur.fetchone()
        if state != "member" or not live or balance < cost:
            raise RuntimeError("refused")
        if stock_total is not None and issued >= stock_total:
            raise RuntimeError("out of stock")
        cur.execute(RAW_REDEMPTION, [account_id, reward_id, cost, now + timedelta(days=30), now])
        redemption_id = cur.fetchone()[0]
        cur.execute(RAW_ACCOUNT, [cost, account_id])
        cur.execute(RAW_ENTRY, [account_id, -cost, str(redemption_id), redemption_id,
                                f"redemption:{redemption_id}", balance - cost, now])  # fmt: skip
        entry_id = cur.fetchone()[0]
        cur.execute(RAW_LIVE_LOTS, [account_id, now, [], 50])
        left, lots, portions = cost, [], []
        for lot_id, remaining in cur.fetchall():
            portion = min(left, remaining)
            lots.append(lot_id)
            portions.append(portion)
            left -= portion
            if not left:
                break
        cur.execute(RAW_TAKE, [lots, portions, entry_id, lots, portions])
        cur.execute(RAW_RESERVE, [reward_id])
        if not cur.fetchall():
            raise RuntimeError("out of stock")
    conn.commit()


# --- Throughput ---------------------------------------------------------------------------------


def throughput(workers: int, member_ids: list[int], attempt) -> tuple[float, int]:
    """Completed redemptions per second over SECONDS with ``workers`` threads; and failures."""
    barrier = threading.Barrier(workers + 1)
    done = [0] * workers
    failed = [0] * workers
    deadline = [0.0]

    def run(index: int) -> None:
        handle = attempt.open()
        try:
            barrier.wait()
            while time.monotonic() < deadline[0]:
                try:
                    attempt.redeem(handle, member_ids[index])
                    done[index] += 1
                except Exception:  # noqa: BLE001 - counted and reported
                    failed[index] += 1
                    attempt.rollback(handle)
        finally:
            attempt.close(handle)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + SECONDS
    started = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


class ServiceAttempt:
    def __init__(self, reward) -> None:
        self.reward = reward

    def open(self):
        from members.models import Member

        return {m.pk: m for m in Member.objects.select_related("tier").all()}

    def redeem(self, members, member_id: int) -> None:
        from loyalty import services

        services.reward_redeem(member=members[member_id], reward=self.reward)

    def rollback(self, _handle) -> None:
        pass

    def close(self, _handle) -> None:
        from django.db import connection

        connection.close()


class RawAttempt:
    def __init__(self, reward_id: int, params: dict) -> None:
        self.reward_id = reward_id
        self.params = params

    def open(self):
        import psycopg2

        return psycopg2.connect(**self.params)

    def redeem(self, conn, member_id: int) -> None:
        raw_redeem(conn, member_id, self.reward_id)

    def rollback(self, conn) -> None:
        conn.rollback()

    def close(self, conn) -> None:
        conn.close()


def sell_out(workers: int, member_ids: list[int], attempt, reward_id: int, stock: int) -> int:
    """``workers`` threads redeem a reward with ``stock`` units until refused; units oversold."""
    from loyalty.models import Reward

    barrier = threading.Barrier(workers)

    def run(index: int) -> None:
        handle = attempt.open()
        try:
            barrier.wait()
            for _ in range(stock):
                try:
                    attempt.redeem(handle, member_ids[index])
                except Exception:  # noqa: BLE001 - out of stock: this worker is done
                    attempt.rollback(handle)
                    return
        finally:
            attempt.close(handle)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issued = Reward.objects.get(pk=reward_id).issued
    return max(0, issued - stock)


# --- A long ledger, bulk-inserted ---------------------------------------------------------------


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def long_history(member, entries: int) -> None:
    """``entries`` ledger rows over three years: earns whose lots were later spent, and recent
    earns still live, exactly as the services would have written them (the books reconcile)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from loyalty import policy
    from loyalty.models import LoyaltySettings
    from loyalty.services import _core

    settings_ = LoyaltySettings.load()
    live = 1000
    earns = (entries + live) // 2
    spends = entries - earns
    now = timezone.now()
    step = timedelta(days=3 * 365) / earns
    with transaction.atomic():
        account = _core.account_lock(member.pk, now=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM loyalty_pointsentry")
        entry_base = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM loyalty_pointslot")
        lot_base = cursor.fetchone()[0] + 1
        entry_rows, lot_rows, consumption_rows, days = [], [], [], {}
        balance = 0
        next_entry = entry_base
        for n in range(earns):
            earned_at = now - timedelta(days=3 * 365) + step * n
            balance += COST
            entry_rows.append((next_entry, account.pk, COST, "available", "earn", "历史积分", "",
                               "", f"bench-earn-{member.pk}-{n}", earned_at.isoformat(),
                               balance, earned_at.isoformat()))  # fmt: skip
            expires = policy.lot_expiry(earned_at=earned_at, policy=settings_.expiry_policy,
                                        months=settings_.expiry_months)  # fmt: skip
            spent = n < spends
            lot_rows.append((lot_base + n, account.pk, next_entry, COST, 0 if spent else COST,
                             expires.isoformat() if expires else None,
                             earned_at.isoformat()))  # fmt: skip
            day = timezone.localdate(earned_at)
            days[day] = days.get(day, 0) + COST
            next_entry += 1
            if spent:
                spent_at = earned_at + step / 2
                balance -= COST
                entry_rows.append((next_entry, account.pk, -COST, "available", "redeem",
                                   "历史兑换", "", "", f"bench-spend-{member.pk}-{n}", None,
                                   balance, spent_at.isoformat()))  # fmt: skip
                consumption_rows.append((next_entry, lot_base + n, COST))
                next_entry += 1
        copy_rows(cursor, "loyalty_pointsentry",
                  ["id", "account_id", "amount", "bucket", "kind", "reason", "reference_type",
                   "reference_id", "idempotency_key", "qualifying_at", "balance_after",
                   "created_at"], entry_rows)  # fmt: skip
        copy_rows(cursor, "loyalty_pointslot",
                  ["id", "account_id", "entry_id", "amount", "remaining", "expires_at",
                   "created_at"], lot_rows)  # fmt: skip
        copy_rows(cursor, "loyalty_lotconsumption", ["entry_id", "lot_id", "amount"],
                  consumption_rows)  # fmt: skip
        day_rows = [(account.pk, day.isoformat(), points) for day, points in days.items()]
        copy_rows(cursor, "loyalty_qualifyingday", ["account_id", "day", "points"], day_rows)
        for table in ("loyalty_pointsentry", "loyalty_pointslot"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT MAX(id) FROM {table}))")  # fmt: skip
        cursor.execute(
            "UPDATE loyalty_pointsaccount SET balance = %s, lifetime_earned = %s WHERE id = %s",
            [balance, earns * COST, account.pk],
        )
        cursor.execute("ANALYZE loyalty_pointsentry; ANALYZE loyalty_pointslot;")


def main() -> None:
    with bench_environment("loyalty"):
        from django.db import connection, reset_queries
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from loyalty.models import EarningRule, LoyaltySettings, PointsEntry, Reward
        from loyalty.selectors import encode_cursor, reconcile
        from loyalty.services import points_award_for_event
        from members.models import Member
        from tests.factories import MemberFactory, standard_tiers

        started = time.monotonic()
        tiers = standard_tiers()
        settings_ = LoyaltySettings.load()
        settings_.expiry_policy = LoyaltySettings.ExpiryPolicy.MONTHS_AFTER
        settings_.save()
        EarningRule.objects.create(name="bench", trigger="custom", event_code="bench",
                                   points=1_000_000)  # fmt: skip
        members = [MemberFactory(tier=tiers["regular"]) for _ in range(max(WORKERS))]
        for member in members:
            points_award_for_event(member=member, trigger="custom", event_code="bench",
                                   natural_key=f"bench:{member.pk}")  # fmt: skip
        # A stock the run cannot exhaust: the stock check runs on every redemption.
        reward = Reward.objects.create(name="bench", cost=COST, fulfilment="donation",
                                       stock_total=10**9)  # fmt: skip
        member_ids = [m.pk for m in members]

        # Statements per redemption, for the record: the two paths do the same work.
        one = Member.objects.select_related("tier").get(pk=member_ids[0])
        with CaptureQueriesContext(connection) as queries:
            ServiceAttempt(reward).redeem({one.pk: one}, one.pk)
        service_statements = sum(
            q["sql"] not in ("BEGIN", "COMMIT") for q in queries.captured_queries
        )

        params = connection.get_connection_params()
        rows = []
        for workers in WORKERS:
            service_rps, service_failed = throughput(workers, member_ids, ServiceAttempt(reward))
            raw_rps, raw_failed = throughput(workers, member_ids, RawAttempt(reward.pk, params))
            oversold = 0
            for attempt in (ServiceAttempt, RawAttempt):
                scarce = Reward.objects.create(name="scarce", cost=COST, fulfilment="donation",
                                               stock_total=50)  # fmt: skip
                oversold += sell_out(workers, member_ids,
                                     attempt(scarce) if attempt is ServiceAttempt
                                     else attempt(scarce.pk, params), scarce.pk, 50)  # fmt: skip
            rows.append([workers, f"{service_rps:.0f}", f"{raw_rps:.0f}",
                         f"{service_rps / raw_rps:.2f}", service_failed + raw_failed,
                         oversold])  # fmt: skip
        connection.close()
        print_table(
            f"Redemptions per second ({SECONDS:.0f} s each; every worker its own member, all "
            f"redeeming one reward; {service_statements} SQL statements per redemption in the "
            "service, the same ones by hand in raw psycopg2)",
            ["workers", "service layer", "raw psycopg2 (same SQL shape)", "service / raw",
             "failed", "oversold (50 in stock, both paths)"],
            rows,
        )  # fmt: skip

        short = MemberFactory(tier=tiers["regular"])
        for n in range(10):
            points_award_for_event(member=short, trigger="custom", event_code="bench",
                                   natural_key=f"short:{n}")  # fmt: skip
        long = MemberFactory(tier=tiers["regular"])
        long_history(long, LONG_HISTORY)
        page_rows = []
        for label, member in (("10 entries", short), (f"{LONG_HISTORY:,} entries", long)):
            count = PointsEntry.objects.filter(account__member=member).count()
            client = Client()
            client.force_login(member.user)
            paths = [("balance /points/", "/points/"), ("history, first page", "/points/history/"),
                     ("expiry calendar", "/points/expiry/")]  # fmt: skip
            middle = (
                PointsEntry.objects.filter(account__member=member)
                .order_by("-created_at", "-pk")[count // 2 : count // 2 + 1]
                .first()
            )
            if middle is not None:
                paths.append(("history, keyset page in the middle",
                              f"/points/history/?after={encode_cursor(middle)}"))  # fmt: skip
            for page, path in paths:
                client.get(path)
                reset_queries()  # a request resets the log; start the capture from empty
                with CaptureQueriesContext(connection) as queries:
                    status = client.get(path).status_code
                assert status == 200, (path, status)
                statements = len(queries)  # read now: later requests reset the query log
                ms = median_ms(lambda p=path, c=client: c.get(p), repeat=PAGE_REPEAT)
                page_rows.append([label, f"{count:,}", page, statements, f"{ms:.1f}"])
        print_table(
            f"Member pages in process (Django test client, median of {PAGE_REPEAT})",
            ["member", "ledger entries", "page", "SQL queries", "median ms"],
            page_rows,
        )
        problems = reconcile()
        print(f"\nreconcile after the run: {'OK' if not problems else problems[:5]}"
              f" ({time.monotonic() - started:.0f} s after setup)")  # fmt: skip


if __name__ == "__main__":
    main()
