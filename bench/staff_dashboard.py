"""Benchmark: every staff dashboard chart over a club of 100,000 members.

Seeds, straight in SQL (``INSERT … SELECT generate_series``), 100,000 members over three years
with their points accounts, 1,000,000 ledger entries (earn, redeem, expire; inserts only, as
the ledger's append-only triggers allow), 200,000 comments, likes, activity registrations,
tier changes, 50,000 shares with 200,000 landing-page visits and referrals, 60,000
redemptions and 1.2 million daily-active rows (400 days, about 3,000 members a day), then
runs the nightly job, which backfills the dashboard's rollups of finished days and weeks.

Then times each chart's rows (median of several runs) with the Redis cache empty ("cold": the
SQL runs) and filled ("warm"), for the default 90 days and for 365 days, and the whole
dashboard page and the admin home in the Django test client. Target: every chart under
500 ms cold.

Starts embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, and works on a
scratch database that is dropped afterwards.

    .venv/bin/python -m bench.staff_dashboard
"""

from __future__ import annotations

import statistics
import time

from bench.common import bench_environment, count_queries, print_table

MEMBERS = 100_000
LEDGER_PER_ACCOUNT = 10  # × MEMBERS = 1,000,000 ledger entries
COMMENTS = 200_000
ITEM_LIKES = 150_000
COMMENT_LIKES = 100_000
REGISTRATIONS = 20_000
SHARES = 50_000
VISITS = 200_000
REFERRALS = 2_000
REDEMPTIONS = 60_000
ACTIVE_DAYS = 400
ACTIVE_PER_DAY = 3_000
TARGET_MS = 500
RUNS = 5

# Values for NOT NULL columns a statement does not name (so the seed keeps working when other
# apps add columns): zero, empty or now, by type.
ZERO = {
    "text": "''", "character varying": "''", "integer": "0", "bigint": "0", "smallint": "0",
    "boolean": "false", "jsonb": "'{}'::jsonb", "timestamp with time zone": "now()",
    "date": "current_date", "double precision": "0", "numeric": "0", "inet": "'127.0.0.1'",
    "uuid": "gen_random_uuid()",
}  # fmt: skip


def insert_select(cursor, table: str, values: dict[str, str], source: str, *, tail: str = ""):
    """INSERT INTO table (…) SELECT … FROM source, filling every other required column."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        [table],
    )
    columns = dict(values)
    for name, data_type in cursor.fetchall():
        columns.setdefault(name, ZERO.get(data_type, "''"))
    started = time.monotonic()
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(f'{expr} AS {name}' for name, expr in columns.items())} "
        f"FROM {source} {tail}"
    )
    print(f"  {table}: {cursor.rowcount:,} rows in {time.monotonic() - started:.1f} s", flush=True)


def seed() -> dict:
    """The club, in SQL; returns a few ids the timings refer to."""
    from django.db import connection
    from django.utils import timezone

    from community import demo
    from community.models import ActivityPage, CommunityHome, PostPage
    from loyalty.models import Reward
    from tests.factories import standard_tiers

    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    pages = []
    for index in range(20):
        post = PostPage(title=f"文章 {index}", slug=f"bench-{index}", summary="摘要",
                        access="members", body=[])  # fmt: skip
        home.add_child(instance=post)
        pages.append(post.pk)
    activity = ActivityPage(title="线下活动", slug="bench-activity", summary="活动",
                            access="members", body=[], capacity=MEMBERS)  # fmt: skip
    home.add_child(instance=activity)
    rewards = [Reward.objects.create(name=f"礼品 {n}", cost=200 + 100 * n, fulfilment="donation")
               for n in range(8)]  # fmt: skip
    regular, silver, gold, platinum = (tiers[c].pk for c in ("regular", "silver", "gold",
                                                              "platinum"))  # fmt: skip
    now = timezone.now()
    pages_array = "ARRAY[" + ",".join(map(str, pages)) + "]"

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        insert_select(cursor, "auth_user", {
            "password": "'!'", "is_superuser": "false", "username": "'bench' || g",
            "is_staff": "false", "is_active": "true", "date_joined": "now()",
        }, f"generate_series(1, {MEMBERS}) g")  # fmt: skip
        cursor.execute("SELECT MIN(id) FROM auth_user WHERE username LIKE 'bench%%'")
        user_base = cursor.fetchone()[0]
        # Joins grow over three years (more recent than old); 3 % applicants, 2 % left.
        insert_select(cursor, "members_member", {
            "user_id": f"{user_base} + g - 1",
            "state": "CASE WHEN g % 100 < 3 THEN 'applicant' WHEN g % 100 < 5 THEN 'left' "
                     "ELSE 'member' END",
            "tier_id": f"CASE WHEN g % 100 < 3 THEN NULL WHEN r < 0.60 THEN {regular} "
                       f"WHEN r < 0.85 THEN {silver} WHEN r < 0.96 THEN {gold} ELSE {platinum} "
                       "END",
            "display_name": "'会员' || g",
            "joined_at": "CASE WHEN g % 100 < 3 THEN NULL ELSE "
                         "now() - interval '1095 days' * power(random(), 1.6) END",
            "created_at": "now() - interval '1100 days'",
            "weibo_followers": "floor(30 / power(random() + 0.001, 0.9))::int",
            "zombie_reasons": "'[]'::jsonb", "weibo_token_state": "'valid'",
            "show_name_on_shares": "true", "weibo_verified_type": "-1",
        }, f"(SELECT g, random() AS r FROM generate_series(1, {MEMBERS}) g) s")  # fmt: skip
        cursor.execute(
            "UPDATE members_member SET left_at = joined_at + (now() - joined_at) * random() "
            "WHERE state = 'left'"
        )
        cursor.execute("SELECT MIN(id), MAX(id) FROM members_member")
        member_base, member_top = cursor.fetchone()
        member = f"({member_base} + (%s) %% {MEMBERS})"  # a member id from any integer

        insert_select(cursor, "loyalty_pointsaccount", {
            "member_id": "id", "balance": "450", "pending": "0", "lifetime_earned": "700",
            "manual_tier_reason": "''", "created_at": "COALESCE(joined_at, created_at)",
        }, "members_member")  # fmt: skip
        # Ten entries per account between joining and now, in time order (as an append-only
        # ledger is written): 7 earns of 100, 2 redemptions of 100, one expiry of 50.
        insert_select(cursor, "loyalty_pointsentry", {
            "account_id": "a.id",
            "amount": "CASE WHEN j <= 7 THEN 100 WHEN j <= 9 THEN -100 ELSE -50 END",
            "bucket": "'available'",
            "kind": "CASE WHEN j <= 7 THEN 'earn' WHEN j <= 9 THEN 'redeem' ELSE 'expire' END",
            "reason": "'bench'", "reference_type": "''", "reference_id": "''",
            "idempotency_key": "'bench:' || a.id || ':' || j",
            "balance_after": "CASE WHEN j <= 7 THEN 100 * j WHEN j = 8 THEN 600 "
                             "WHEN j = 9 THEN 500 ELSE 450 END",
            "created_at": "b.base + (now() - b.base) * ((j - 1 + random()) / 10)",
        }, "loyalty_pointsaccount a JOIN (SELECT m.id, COALESCE(m.joined_at, now() - interval "
           "'30 days') AS base FROM members_member m) b ON b.id = a.member_id, "
           f"generate_series(1, {LEDGER_PER_ACCOUNT}) j",
           tail="ORDER BY created_at")  # fmt: skip
        # One upgrade for a fifth of the members above the first tier.
        insert_select(cursor, "loyalty_tierchange", {
            "account_id": "a.id", "kind": "'upgrade'",
            "from_tier_id": f"CASE m.tier_id WHEN {silver} THEN {regular} WHEN {gold} THEN "
                            f"{silver} ELSE {gold} END",
            "to_tier_id": "m.tier_id", "measured_points": "5000", "reason": "'bench'",
            "created_at": "m.joined_at + (now() - m.joined_at) * random()",
        }, "members_member m JOIN loyalty_pointsaccount a ON a.member_id = m.id",
           tail=f"WHERE m.tier_id <> {regular} AND m.joined_at IS NOT NULL AND m.id % 5 = 0"
        )  # fmt: skip

        # Comments over the last year; the few held ones are recent, as a working queue is.
        insert_select(cursor, "community_comment", {
            "page_id": f"({pages_array})[1 + g % 20]", "member_id": member % "g * 7919",
            "body": "'bench'",
            "state": "CASE WHEN g % 200 = 0 THEN 'held' WHEN g % 200 = 1 THEN 'rejected' "
                     "WHEN g % 200 = 2 THEN 'removed' ELSE 'published' END",
            "moderation_action": "''", "matched_keywords": "'[]'::jsonb", "flagged": "false",
            "decision_reason": "''",
            "created_at": "CASE WHEN g % 200 = 0 THEN now() - interval '14 days' * random() "
                          "ELSE now() - interval '365 days' * power(random(), 1.2) END",
        }, f"generate_series(1, {COMMENTS}) g", tail="ORDER BY created_at")  # fmt: skip
        cursor.execute("SELECT MIN(id) FROM community_comment")
        comment_base = cursor.fetchone()[0]
        insert_select(cursor, "community_commentreport", {
            "comment_id": f"{comment_base} + (g * 37) % {COMMENTS}",
            "reporter_id": member % "g * 104729", "reason": "'spam'", "detail": "''",
            "state": "CASE WHEN g % 5 = 0 THEN 'open' ELSE 'dismissed' END",
            "created_at": "now() - interval '30 days' * random()",
        }, "generate_series(1, 5000) g")  # fmt: skip
        insert_select(cursor, "community_itemlike", {
            "page_id": f"({pages_array})[1 + g % 20]", "member_id": member % "g * 7919",
            "created_at": "now() - interval '365 days' * random()",
        }, f"generate_series(1, {ITEM_LIKES}) g", tail="ON CONFLICT DO NOTHING")  # fmt: skip
        insert_select(cursor, "community_commentlike", {
            "comment_id": f"{comment_base} + (g * 13) % {COMMENTS}",
            "member_id": member % "g::bigint * 104729",
            "created_at": "now() - interval '365 days' * random()",
        }, f"generate_series(1, {COMMENT_LIKES}) g", tail="ON CONFLICT DO NOTHING")  # fmt: skip
        insert_select(cursor, "community_registration", {
            "activity_id": str(activity.pk), "member_id": member % "g * 7",
            "state": "'registered'", "created_at": "now() - interval '365 days' * random()",
        }, f"generate_series(1, {REGISTRATIONS}) g")  # fmt: skip

        insert_select(cursor, "share_share", {
            "member_id": member % "g * 7919", "kind": "'item'",
            "item_id": f"({pages_array})[1 + g % 20]", "subject_key": "'item:' || g % 20",
            "subject_title": "'文章'", "text": "'分享'", "token": "'bench' || g",
            "link": "'https://club.example.com/s/' || g", "with_card": "false",
            "card_name": "''", "show_name": "true", "rip": "'127.0.0.1'",
            "confirmation_key": "'bench-confirm-' || g",
            "followers_at_share": "floor(50 / power(random() + 0.001, 0.8))::int",
            "state": "CASE WHEN g % 25 < 22 THEN 'sent' WHEN g % 25 < 24 THEN 'failed' "
                     "ELSE 'needs_reauth' END",
            "attempts": "1", "in_doubt": "false",
            "last_error_code": "CASE WHEN g % 25 = 22 THEN 20019 WHEN g % 25 = 23 THEN 10023 "
                               "WHEN g % 25 = 24 THEN 21327 END",
            "last_error": "''", "weibo_status_id": "CASE WHEN g % 25 < 22 THEN 'w' || g "
                                                   "ELSE '' END",
            "weibo_uid": "''", "created_at": "t", "updated_at": "t",
            "sent_at": "CASE WHEN g % 25 < 22 THEN t + interval '1 minute' END",
        }, f"(SELECT g, now() - interval '365 days' * random() AS t "
           f"FROM generate_series(1, {SHARES}) g) s")  # fmt: skip
        cursor.execute("SELECT MIN(id) FROM share_share")
        share_base = cursor.fetchone()[0]
        insert_select(cursor, "share_sharevisit", {
            "share_id": "s.id", "visitor": "'v' || g",
            "day": "LEAST((s.created_at AT TIME ZONE 'Asia/Shanghai')::date + g % 4, "
                   "(now() AT TIME ZONE 'Asia/Shanghai')::date)",
            "created_at": "s.created_at",
        }, f"generate_series(1, {VISITS}) g JOIN share_share s ON s.id = {share_base} + "
           f"(g * 7) % {SHARES}")  # fmt: skip
        insert_select(cursor, "share_sharereferral", {
            "share_id": f"{share_base} + (n * 17) % {SHARES}", "member_id": "m.id",
            "applied_at": "now() - interval '365 days' * random()",
        }, "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM members_member "
           "WHERE state = 'applicant') m", tail=f"WHERE n <= {REFERRALS}")  # fmt: skip
        cursor.execute(
            "UPDATE share_sharereferral SET admitted_at = applied_at + interval '1 day' "
            "WHERE id % 5 < 2"
        )
        insert_select(cursor, "members_application", {
            "member_id": "id", "message": "'bench'", "state": "'pending'",
            "submitted_at": "now() - interval '365 days' * random()",
        }, "members_member", tail="WHERE state = 'applicant'")  # fmt: skip

        # 70 % of each day's active members come from a core of 15,000 regulars.
        insert_select(cursor, "core_dailyactivemember", {
            "day": "(now() AT TIME ZONE 'Asia/Shanghai')::date - d",
            "member_id": f"{member_base} + CASE WHEN k <= {ACTIVE_PER_DAY * 7 // 10} THEN "
                         f"(k * 7919 + d * 104729) % 15000 ELSE (k * 7919 + d * 104729) "
                         f"% {MEMBERS} END",
        }, f"generate_series(0, {ACTIVE_DAYS - 1}) d, generate_series(1, {ACTIVE_PER_DAY}) k",
           tail="ORDER BY day ON CONFLICT DO NOTHING")  # fmt: skip

        reward_array = "ARRAY[" + ",".join(str(r.pk) for r in rewards) + "]"
        insert_select(cursor, "loyalty_redemption", {
            "account_id": f"(SELECT MIN(id) FROM loyalty_pointsaccount) + (g * 7919) % {MEMBERS}",
            "reward_id": f"({reward_array})[1 + g % 8]", "cost": "200 + 100 * (g % 8)",
            "state": "CASE WHEN g % 20 < 17 THEN 'fulfilled' WHEN g % 20 < 19 THEN 'requested' "
                     "ELSE 'cancelled' END",
            "idempotency_key": "''", "shipping_name": "''", "shipping_phone": "''",
            "shipping_address": "''", "staff_note": "''", "close_reason": "''",
            "created_at": "t",
            "fulfilled_at": "CASE WHEN g % 20 < 17 THEN t + interval '1 day' END",
            "closed_at": "CASE WHEN g % 20 = 19 THEN t + interval '1 hour' END",
        }, f"(SELECT g, now() - interval '365 days' * random() AS t "
           f"FROM generate_series(1, {REDEMPTIONS}) g) s")  # fmt: skip
        started = time.monotonic()
        cursor.execute("ANALYZE")
        print(f"  ANALYZE in {time.monotonic() - started:.1f} s", flush=True)
        assert member_top - member_base + 1 == MEMBERS
    return {"now": now}


def median_ms(fn, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    with bench_environment("dashboard"):
        from django.core.cache import cache
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from core.reports.catalogue import CHARTS, HEADLINES
        from core.reports.periods import last_days
        from core.reports.services import daily_active_record, report_days_fill
        from core.reports.views import cache_key, cached_rows
        from tests.factories import MemberFactory, StaffFactory

        started = time.monotonic()
        print("seeding …", flush=True)
        seed()
        seeded = time.monotonic() - started
        began = time.monotonic()
        stored = report_days_fill()
        backfill = time.monotonic() - began
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM members_member), "
                "(SELECT COUNT(*) FROM loyalty_pointsentry), "
                "(SELECT COUNT(*) FROM community_comment), "
                "(SELECT COUNT(*) FROM core_dailyactivemember), "
                "(SELECT COUNT(*) FROM share_share), (SELECT COUNT(*) FROM share_sharevisit), "
                "(SELECT COUNT(*) FROM loyalty_redemption)"
            )
            counts = cursor.fetchone()
        print_table(
            f"Data set (seeded in {seeded:.0f} s; the first nightly run backfilled "
            f"{stored['active']} days of DAU / WAU / MAU, {stored['ledger']} ledger days and "
            f"{stored['interaction']} interaction weeks in {backfill:.1f} s)",
            ["members", "ledger entries", "comments", "daily-active rows", "shares",
             "share visits", "redemptions"],
            [[f"{n:,}" for n in counts]],
        )  # fmt: skip

        rows = []
        slowest = 0.0
        for chart in CHARTS:
            for table in chart.tables:
                name = f"{chart.slug}:{table.name}"
                measures = []
                for days in (90, 365):
                    period = last_days(days)

                    def cold(period=period, name=name, selector=table.selector):
                        cache.delete(cache_key(name, period))
                        return cached_rows(name, selector, period)

                    queries = count_queries(cold)
                    cold_ms = median_ms(cold)
                    warm_ms = median_ms(
                        lambda p=period, n=name, s=table.selector: cached_rows(n, s, p), runs=15
                    )
                    measures.append((queries, cold_ms, warm_ms))
                    slowest = max(slowest, cold_ms)
                (q90, cold90, warm90), (q365, cold365, warm365) = measures
                rows.append([name, q90, f"{cold90:.0f}", f"{warm90:.2f}", f"{cold365:.0f}",
                             f"{warm365:.2f}"])  # fmt: skip
        print_table(
            f"Chart rows with {MEMBERS:,} members (median of {RUNS} cold runs: Redis cache "
            f"emptied, the SQL runs; warm: served from Redis; target < {TARGET_MS} ms cold)",
            ["chart:table", "SQL queries", "cold ms (90 days)", "warm ms (90 days)",
             "cold ms (365 days)", "warm ms (365 days)"],
            rows,
        )  # fmt: skip

        # The first day after deploying, before the nightly job ran: finished periods are
        # computed live too (correct, only slower); the job's first run backfills them.
        from core.models import ActiveMembersDay, InteractionWeek, LedgerDay

        for model in (ActiveMembersDay, LedgerDay, InteractionWeek):
            model.objects.all().delete()
        live_rows = []
        for chart in CHARTS:
            if chart.slug not in ("active", "interaction", "points"):
                continue
            table = chart.tables[0]
            name = f"{chart.slug}:{table.name}"
            timings = []
            for days in (90, 365):
                period = last_days(days)

                def live(period=period, name=name, selector=table.selector):
                    cache.delete(cache_key(name, period))
                    return cached_rows(name, selector, period)

                timings.append(f"{median_ms(live, runs=3):.0f}")
            live_rows.append([name, *timings])
        print_table(
            "Before the first nightly run (no rollups yet: every day computed from the raw rows)",
            ["chart:table", "cold ms (90 days)", "cold ms (365 days)"],
            live_rows,
        )
        report_days_fill()

        headline_rows = []
        for headline in HEADLINES:
            period = last_days(30)
            name = f"headline:{headline.key}"

            def cold(period=period, name=name, selector=headline.selector):
                cache.delete(cache_key(name, period))
                return cached_rows(name, selector, period)

            headline_rows.append([headline.key, count_queries(cold), f"{median_ms(cold):.0f}"])
        print_table(
            "Admin home headlines (30 days, cold)", ["headline", "SQL queries", "cold ms"],
            headline_rows,
        )  # fmt: skip

        admin = StaffFactory()
        client = Client()
        client.force_login(admin)

        def clear_all():
            client_ = cache._cache.get_client(write=True)
            for key in client_.scan_iter(match=cache.make_key("reports:v1:*")):
                client_.delete(key)

        page_rows = []
        for label, path in [("dashboard, all 8 charts (90 days)", "/admin/reports/"),
                            ("dashboard, all 8 charts (365 days)", "/admin/reports/?days=365"),
                            ("admin home with headlines", "/admin/")]:  # fmt: skip
            assert client.get(path).status_code == 200, path

            def cold_page(p=path):
                clear_all()
                assert client.get(p).status_code == 200

            queries = count_queries(cold_page)
            cold_ms = median_ms(cold_page, runs=3)
            warm_ms = median_ms(lambda p=path: client.get(p), runs=10)
            page_rows.append([label, queries, f"{cold_ms:.0f}", f"{warm_ms:.0f}"])
        print_table(
            "Pages in process (Django test client, as an administrator)",
            ["page", "SQL queries (cold)", "cold ms", "warm ms"],
            page_rows,
        )

        member = MemberFactory()
        daily_active_record(user_id=member.user_id)  # the day's first request writes the row
        repeat_ms = median_ms(lambda: daily_active_record(user_id=member.user_id), runs=200)
        print(
            f"\nrecording an active member, after the day's first request: {repeat_ms:.2f} ms "
            f"(one Redis round trip, no SQL: "
            f"{count_queries(lambda: daily_active_record(user_id=member.user_id))} queries)"
        )
        print(
            f"slowest chart cold: {slowest:.0f} ms ({'within' if slowest < TARGET_MS else 'OVER'} "
            f"the {TARGET_MS} ms target); {time.monotonic() - started:.0f} s in all, "
            f"{timezone.localdate()}"
        )


if __name__ == "__main__":
    main()
