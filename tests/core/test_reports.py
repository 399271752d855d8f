"""The staff dashboard: each chart's numbers on a hand-built club, ranges, CSV, permissions."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community import demo
from community.models import CommunityHome, PostPage
from community.models_interaction import Comment, CommentReport, ItemLike
from core import roles
from core.models import ActiveMembersDay, AuditEntry, DailyActiveMember, InteractionWeek, LedgerDay
from core.reports import selectors
from core.reports.catalogue import CHARTS
from core.reports.periods import Period, last_days, period_from_params
from core.reports.services import report_days_fill
from loyalty.models import PointsAccount, PointsEntry, Redemption, Reward, TierChange
from loyalty.selectors import liability
from members.models import Application, Member
from share.models import Share, ShareReferral, ShareVisit
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def local(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def today() -> date:
    return timezone.localdate()


def monday() -> date:
    return today() - timedelta(days=today().weekday())


def clear_report_cache() -> None:
    """Forget cached chart rows and daily-active marks (the database is rolled back between
    tests, Redis is not)."""
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match=cache.make_key("reports:*")):
        client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_report_cache()
    yield
    clear_report_cache()


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def staff(settings, tiers):
    settings.STAFF_REQUIRE_MFA = False
    demo.load_structure()
    roles.roles_sync()
    users = {}
    for role in roles.ALL_ROLES:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


@pytest.fixture
def post(tiers):
    demo.load_structure()
    page = PostPage(title="会员文章", slug=f"post-{next(_numbers)}", summary="摘要",
                    access="members", body=[])  # fmt: skip
    CommunityHome.objects.get().add_child(instance=page)
    return page


def make_share(member, *, state="sent", created_at=None, sent_at=None, followers=0, code=None):
    n = next(_numbers)
    created_at = created_at or timezone.now()
    return Share.objects.create(
        member=member, kind="tier", subject_key=f"tier:{n}", subject_title="金卡", text="分享",
        token=f"token{n}", link=f"https://club.example.com/s/{n}", rip="127.0.0.1",
        confirmation_key=f"confirm{n}", followers_at_share=followers, state=state,
        sent_at=sent_at or (created_at if state == "sent" else None), created_at=created_at,
        last_error_code=code,
    )  # fmt: skip


def entry(account, amount, kind, at, *, bucket="available"):
    n = next(_numbers)
    return PointsEntry.objects.create(
        account=account, amount=amount, bucket=bucket, kind=kind, reason="测试",
        idempotency_key=f"test:{n}", balance_after=max(amount, 0), created_at=at,
    )  # fmt: skip


def row_for(rows, key, value):
    return next(row for row in rows if row[key] == value)


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content])
    return list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))


# --- 1. Members by tier ---------------------------------------------------------------------------


def test_members_by_tier_follows_joins_tier_changes_and_leavers(tiers):
    d = today()
    upgraded = MemberFactory(tier=tiers["gold"], joined_at=local(d - timedelta(days=10)))
    account = PointsAccount.objects.create(member=upgraded)
    TierChange.objects.create(account=account, kind="upgrade", from_tier=tiers["silver"],
                              to_tier=tiers["gold"], measured_points=5000,
                              created_at=local(d - timedelta(days=5)))  # fmt: skip
    MemberFactory(tier=tiers["regular"], joined_at=local(d - timedelta(days=3)))
    MemberFactory(tier=tiers["silver"], joined_at=local(d - timedelta(days=20)),
                  state=Member.State.LEFT, left_at=local(d - timedelta(days=2)))  # fmt: skip
    MemberFactory(tier=tiers["gold"], state=Member.State.APPLICANT, joined_at=None)

    rows = selectors.members_by_tier(last_days(30))

    def on(days_ago):
        day = d - timedelta(days=days_ago)
        return {row["tier"]: row["members"] for row in rows if row["day"] == day}

    assert on(11) == {"普通": 0, "银卡": 1, "金卡": 0, "白金卡": 0}
    assert on(10) == {"普通": 0, "银卡": 2, "金卡": 0, "白金卡": 0}  # joined as silver
    assert on(5) == {"普通": 0, "银卡": 1, "金卡": 1, "白金卡": 0}  # upgraded
    assert on(3) == {"普通": 1, "银卡": 1, "金卡": 1, "白金卡": 0}
    assert on(2) == {"普通": 1, "银卡": 0, "金卡": 1, "白金卡": 0}  # the silver member left
    assert on(0) == {"普通": 1, "银卡": 0, "金卡": 1, "白金卡": 0}


def test_three_joins_this_week_two_of_them_gold(client, staff, tiers):
    for minute, tier in enumerate(["gold", "gold", "regular"], start=1):
        MemberFactory(tier=tiers[tier], joined_at=local(monday(), 0, minute))
    MemberFactory(tier=tiers["silver"], joined_at=local(monday() - timedelta(days=3)))

    joins = selectors.joins_and_funnel(last_days(30))
    assert row_for(joins, "week", monday())["joins"] == 3
    assert row_for(joins, "week", monday() - timedelta(days=7))["joins"] == 1
    by_tier = {r["tier"]: r["members"] for r in selectors.members_by_tier(last_days(7))
               if r["day"] == today()}  # fmt: skip
    assert by_tier["金卡"] == 2 and by_tier["普通"] == 1 and by_tier["银卡"] == 1

    client.force_login(staff[roles.ADMINISTRATOR])
    page = client.get("/admin/reports/tiers/?days=7").content.decode()
    assert '<th scope="row">' + today().isoformat() + "</th>" in page


# --- 2. Joins and the outsider funnel -------------------------------------------------------------


def test_share_funnel_counts_clicks_applications_and_admissions_per_week(tiers):
    sharer = MemberFactory(tier=tiers["gold"])
    share = make_share(sharer, created_at=local(monday()))
    for visitor in ("a", "b", "c", "d"):
        ShareVisit.objects.create(share=share, visitor=visitor, day=monday())
    ShareVisit.objects.create(share=share, visitor="a", day=monday() - timedelta(days=7))
    applied = [MemberFactory(state=Member.State.APPLICANT, joined_at=None) for _ in range(2)]
    ShareReferral.objects.create(share=share, member=applied[0], applied_at=local(monday()),
                                 admitted_at=local(monday(), 1))  # fmt: skip
    ShareReferral.objects.create(share=share, member=applied[1], applied_at=local(monday()))
    application = Application.objects.create(member=applied[1], message="请让我加入")
    Application.objects.filter(pk=application.pk).update(submitted_at=local(monday()))

    week = row_for(selectors.joins_and_funnel(last_days(14)), "week", monday())
    assert week["share_clicks"] == 4
    assert week["share_applications"] == 2
    assert week["share_admitted"] == 1
    assert week["applications"] == 1


# --- 3. Active members ----------------------------------------------------------------------------


def test_dau_wau_mau_count_each_member_once_per_window(tiers):
    d = today()
    regular, occasional, lapsed = (MemberFactory(tier=tiers["regular"]) for _ in range(3))
    for member, days_ago in [(regular, 0), (regular, 1), (regular, 10), (occasional, 3),
                             (lapsed, 40)]:  # fmt: skip
        DailyActiveMember.objects.create(member=member, day=d - timedelta(days=days_ago))

    rows = {row["day"]: row for row in selectors.active_members(last_days(60))}
    assert rows[d] == {"day": d, "dau": 1, "wau": 2, "mau": 2}
    assert rows[d - timedelta(days=3)] == {"day": d - timedelta(days=3), "dau": 1, "wau": 1,
                                           "mau": 2}  # fmt: skip
    assert rows[d - timedelta(days=10)]["mau"] == 1  # 40 days ago is outside its 30 days
    assert rows[d - timedelta(days=40)] == {"day": d - timedelta(days=40), "dau": 1, "wau": 1,
                                            "mau": 1}  # fmt: skip

    # The nightly job stores finished days with the same numbers; today stays live.
    assert report_days_fill()["active"] >= 40
    assert not ActiveMembersDay.objects.filter(day=d).exists()
    stored = ActiveMembersDay.objects.get(day=d - timedelta(days=3))
    assert (stored.dau, stored.wau, stored.mau) == (1, 1, 2)
    assert {r["day"]: r for r in selectors.active_members(last_days(60))} == rows
    assert report_days_fill()["active"] == 0  # nothing left to do: safe to run twice


def test_a_member_is_recorded_active_once_a_day_staff_and_applicants_never(client, tiers):
    member = MemberFactory(tier=tiers["gold"])
    client.force_login(member.user)
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        client.get("/")
    assert DailyActiveMember.objects.filter(member=member, day=today()).count() == 1
    assert not any("core_dailyactivemember" in q["sql"] for q in queries.captured_queries)

    applicant = MemberFactory(state=Member.State.APPLICANT, joined_at=None)
    client.force_login(applicant.user)
    client.get("/")
    client.force_login(StaffFactory())
    client.get("/admin/")
    assert DailyActiveMember.objects.count() == 1


# --- 4. Interaction rate --------------------------------------------------------------------------


def test_interaction_rate_is_interacting_members_over_active_members(tiers, post):
    members = [MemberFactory(tier=tiers["regular"]) for _ in range(4)]
    for member in members:
        DailyActiveMember.objects.create(member=member, day=today())
    comment = Comment.objects.create(page=post, member=members[0], body="好")
    ItemLike.objects.create(page=post, member=members[1])
    make_share(members[1])  # the same member again: counted once

    last_monday = monday() - timedelta(days=7)
    for member in members[:3]:
        DailyActiveMember.objects.create(member=member, day=last_monday + timedelta(days=2))
    old = Comment.objects.create(page=post, member=members[2], body="上周")
    Comment.objects.filter(pk=old.pk).update(created_at=local(last_monday + timedelta(days=2)))
    assert comment.pk

    live = selectors.interaction_rate(last_days(14))
    assert row_for(live, "week", monday()) == {"week": monday(), "interacting": 2, "active": 4,
                                                "rate": 50.0}  # fmt: skip
    assert row_for(live, "week", last_monday)["rate"] == 33.3
    report_days_fill()  # finished weeks now come from the rollups
    assert InteractionWeek.objects.get(week=last_monday).interacting == 1
    assert selectors.interaction_rate(last_days(14)) == live


# --- 5. Shares ------------------------------------------------------------------------------------


def test_shares_reach_and_failures_by_reason(tiers):
    member = MemberFactory(tier=tiers["gold"])
    make_share(member, followers=100, created_at=local(monday()))
    make_share(member, followers=250, created_at=local(monday()))
    make_share(member, state="failed", code=20019, created_at=local(monday()))
    make_share(member, state="needs_reauth", code=21327, created_at=local(monday()))
    make_share(member, state="failed", code=20019, created_at=local(monday() - timedelta(days=7)))

    week = row_for(selectors.shares_per_week(last_days(7)), "week", monday())
    assert (week["sent"], week["reach"], week["failed"]) == (2, 350, 1)
    failures = selectors.share_failures(Period(monday(), today()))
    assert failures == [{"code": 20019, "shares": 1}, {"code": 21327, "shares": 1}]


# --- 6. Redemptions -------------------------------------------------------------------------------


def test_redemptions_by_reward_and_tier_leave_out_cancelled_ones(tiers):
    gold, regular = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["regular"])
    gold_account = PointsAccount.objects.create(member=gold)
    regular_account = PointsAccount.objects.create(member=regular)
    mug = Reward.objects.create(name="马克杯", cost=100, fulfilment="donation")
    tote = Reward.objects.create(name="帆布袋", cost=50, fulfilment="donation")
    for account in (gold_account, gold_account, regular_account):
        Redemption.objects.create(account=account, reward=mug, cost=100)
    Redemption.objects.create(account=gold_account, reward=tote, cost=50)
    Redemption.objects.create(account=gold_account, reward=tote, cost=50, state="cancelled",
                              closed_at=timezone.now())  # fmt: skip

    rows = selectors.redemptions_by_reward(last_days(7))
    assert rows == [
        {"reward": "马克杯", "tier": "普通", "redemptions": 1, "points": 100},
        {"reward": "马克杯", "tier": "金卡", "redemptions": 2, "points": 200},
        {"reward": "帆布袋", "tier": "金卡", "redemptions": 1, "points": 50},
    ]


# --- 7. Points ------------------------------------------------------------------------------------


def test_points_per_month_and_outstanding_agree_with_the_liability_page(tiers):
    member = MemberFactory(tier=tiers["gold"])
    account = PointsAccount.objects.create(member=member, balance=100)
    this_month = today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    entry(account, 50, "earn", local(last_month, 9))
    entry(account, 100, "earn", local(this_month, 0, 1))
    entry(account, -30, "redeem", local(this_month, 0, 2))
    entry(account, -20, "expire", local(this_month, 0, 3))
    entry(account, 40, "earn", local(this_month, 0, 4), bucket="pending")  # not spendable yet

    rows = selectors.points_per_month(Period(last_month, today()))
    assert rows == [
        {"month": last_month, "issued": 50, "redeemed": 0, "expired": 0, "outstanding": 50},
        {"month": this_month, "issued": 100, "redeemed": 30, "expired": 20, "outstanding": 100},
    ]
    report_days_fill()  # finished days now come from the rollup; today stays live
    assert LedgerDay.objects.get(day=last_month).issued == 50
    assert selectors.points_per_month(Period(last_month, today())) == rows
    books = liability(now=timezone.now())
    assert books.outstanding == rows[-1]["outstanding"]
    assert (books.issued, books.redeemed, books.expired) == (
        sum(r["issued"] for r in rows), sum(r["redeemed"] for r in rows),
        sum(r["expired"] for r in rows),
    )  # fmt: skip


# --- 8. Moderation queue --------------------------------------------------------------------------


def test_moderation_queue_by_age(tiers, post):
    author, reporter = MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["gold"])
    now = timezone.now()
    for age in (timedelta(minutes=30), timedelta(hours=2), timedelta(days=2),
                timedelta(days=10), timedelta(days=100)):  # fmt: skip
        held = Comment.objects.create(page=post, member=author, body="?", state="held")
        Comment.objects.filter(pk=held.pk).update(created_at=now - age)
    Comment.objects.create(page=post, member=author, body="已发布")  # not in the queue
    reported = Comment.objects.create(page=post, member=author, body="广告")
    report = CommentReport.objects.create(comment=reported, reporter=reporter, reason="spam")
    CommentReport.objects.filter(pk=report.pk).update(created_at=now - timedelta(hours=5))

    rows = {r["bucket"]: (r["held_comments"], r["open_reports"])
            for r in selectors.moderation_queue(last_days(90))}  # fmt: skip
    assert rows == {"lt_1h": (1, 0), "1h_6h": (1, 1), "6h_24h": (0, 0), "1d_3d": (1, 0),
                    "3d_7d": (0, 0), "gt_7d": (1, 0), "all": (5, 1)}  # fmt: skip


# --- The range, the page, the CSV -----------------------------------------------------------------


def test_the_date_range_picks_the_days(client, staff, tiers):
    d = today()
    assert period_from_params({}) == Period(d - timedelta(days=89), d)  # default: 90 days
    assert period_from_params({"days": "7"}) == Period(d - timedelta(days=6), d)
    assert period_from_params({"days": "13"}) == Period(d - timedelta(days=89), d)
    assert period_from_params({"from": "2026-01-10", "to": "2026-01-01"}, today=date(2026, 3, 1)
                              ) == Period(date(2026, 1, 1), date(2026, 1, 10))  # fmt: skip
    assert period_from_params({"from": "2026-01-10", "to": "2030-01-01"}, today=date(2026, 3, 1)
                              ) == Period(date(2026, 1, 10), date(2026, 3, 1))  # fmt: skip

    MemberFactory(tier=tiers["gold"], joined_at=local(d - timedelta(days=100)))
    MemberFactory(tier=tiers["gold"], joined_at=local(d - timedelta(days=5)))
    client.force_login(staff[roles.AUDITOR])

    def joins(query):
        response = client.get(f"/admin/reports/joins/?{query}&format=csv")
        return sum(int(row[1]) for row in read_csv(response)[1:])

    assert joins("days=90") == 1
    assert joins("days=365") == 2
    start = (d - timedelta(days=101)).isoformat()
    assert joins(f"from={start}&to={(d - timedelta(days=99)).isoformat()}") == 1
    page = client.get("/admin/reports/?days=30").content.decode()
    assert f'value="{(d - timedelta(days=29)).isoformat()}"' in page
    assert 'aria-current="true">最近 30 天' in page


def test_csv_has_the_tables_numbers_escapes_formulas_and_is_audited(client, staff, tiers):
    member = MemberFactory(tier=tiers["gold"])
    account = PointsAccount.objects.create(member=member)
    reward = Reward.objects.create(name='=HYPERLINK("http://evil.example","点我")', cost=10,
                                   fulfilment="donation")  # fmt: skip
    for _ in range(3):
        Redemption.objects.create(account=account, reward=reward, cost=10)
    auditor = staff[roles.AUDITOR]
    client.force_login(auditor)

    response = client.get("/admin/reports/redemptions/?days=7&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert rows[0] == ["礼品", "等级", "兑换次数", "消耗积分"]
    assert rows[1] == ["'" + reward.name, "金卡", "3", "30"]
    entry_ = AuditEntry.objects.get(action="reports.exported")
    assert entry_.actor == auditor
    assert entry_.after["chart"] == "redemptions" and entry_.after["rows"] == 1

    page = client.get("/admin/reports/redemptions/?days=7").content.decode()
    assert "=HYPERLINK(&quot;http" in page and '=HYPERLINK("http' not in page
    assert '<td class="num">3</td><td class="num">30</td>' in page

    failures = client.get("/admin/reports/shares/?days=7&format=csv&table=failures")
    assert read_csv(failures)[0] == ["原因", "分享数"]


def test_each_chart_is_an_accessible_svg_with_a_table_fallback(client, staff, tiers):
    MemberFactory(tier=tiers["gold"])
    client.force_login(staff[roles.ADMINISTRATOR])
    page = client.get("/admin/reports/").content.decode()
    for chart in CHARTS:
        assert f'data-testid="report-{chart.slug}"' in page, chart.slug
        assert f'id="chart-{chart.slug}' in page
    assert page.count('role="img"') >= len(CHARTS)
    assert page.count("<title id=") == page.count("<desc id=") >= len(CHARTS)
    assert page.count("<details") >= len(CHARTS)


# --- Permissions and the cache --------------------------------------------------------------------


def test_who_sees_which_chart(client, staff):
    slugs = [chart.slug for chart in CHARTS]
    expected = {
        roles.ADMINISTRATOR: set(slugs),
        roles.AUDITOR: set(slugs),
        roles.MODERATOR: {"moderation"},
        roles.MARKETING_EDITOR: {"tiers", "joins", "active", "interaction", "shares"},
        roles.MEMBER_MANAGER: {"tiers", "joins", "active"},
        roles.LOYALTY_OPERATOR: {"tiers", "redemptions", "points"},
        roles.COMPLIANCE_OFFICER: set(),  # consent texts only, no dashboard
    }
    for role, user in staff.items():
        client.force_login(user)
        index = client.get("/admin/reports/").content.decode()
        for slug in slugs:
            status = client.get(f"/admin/reports/{slug}/").status_code
            csv_status = client.get(f"/admin/reports/{slug}/?format=csv").status_code
            may = slug in expected[role]
            assert (status, csv_status) == ((200, 200) if may else (403, 403)), (role, slug)
            assert (f'data-testid="report-{slug}"' in index) == may, (role, slug)
        menu = '"/admin/reports/"' in client.get("/admin/").content.decode()
        assert menu == bool(expected[role]), role  # the menu only for roles with a chart


def test_a_moderator_never_gets_the_points_chart_even_when_it_is_cached(client, staff):
    client.force_login(staff[roles.ADMINISTRATOR])
    assert client.get("/admin/reports/points/").status_code == 200  # now in the cache
    client.force_login(staff[roles.MODERATOR])
    response = client.get("/admin/reports/points/")
    assert response.status_code == 403
    assert "chart-points" not in response.content.decode()
    assert client.get("/admin/reports/points/?format=csv").status_code == 403
    assert not AuditEntry.objects.filter(action="reports.exported", actor=staff[roles.MODERATOR])


def test_staff_without_a_reporting_role_see_no_dashboard(client, settings):
    settings.STAFF_REQUIRE_MFA = False
    roles.roles_sync()
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*roles._perms([roles.ADMIN_ACCESS]))
    client.force_login(user)
    assert client.get("/admin/reports/").status_code == 403
    home = client.get("/admin/").content.decode()
    assert '"/admin/reports/"' not in home and 'data-testid="dashboard-panel"' not in home


def test_admin_home_headlines_follow_permissions(client, staff, tiers):
    MemberFactory(tier=tiers["gold"])
    MemberFactory(tier=tiers["gold"])
    client.force_login(staff[roles.ADMINISTRATOR])
    home = client.get("/admin/").content.decode()
    assert 'data-testid="dashboard-panel"' in home
    for key in ("joins", "active", "shares", "points"):
        assert f'data-headline="{key}"' in home
    assert 'title="2">2</span>' in home  # two joins in the last 30 days
    client.force_login(staff[roles.MARKETING_EDITOR])
    home = client.get("/admin/").content.decode()
    assert 'data-headline="shares"' in home and 'data-headline="points"' not in home
    client.force_login(staff[roles.MODERATOR])
    assert 'data-testid="dashboard-panel"' not in client.get("/admin/").content.decode()


# --- Queries --------------------------------------------------------------------------------------


def populate(n: int, tiers, post) -> None:
    """``n`` members, each with a little of everything the charts count."""
    reward = Reward.objects.create(name=f"礼品{n}", cost=10, fulfilment="donation")
    tier_list = list(tiers.values())
    for index in range(n):
        member = MemberFactory(tier=tier_list[index % 4],
                               joined_at=local(today() - timedelta(days=index % 60)))  # fmt: skip
        account = PointsAccount.objects.create(member=member, balance=10)
        entry(account, 10, "earn", local(today() - timedelta(days=index % 80)))
        Redemption.objects.create(account=account, reward=reward, cost=10)
        DailyActiveMember.objects.create(member=member, day=today() - timedelta(days=index % 9))
        comment = Comment.objects.create(page=post, member=member, body="好",
                                         state="held" if index % 3 else "published")  # fmt: skip
        ItemLike.objects.create(page=post, member=member)
        share = make_share(member, followers=index, state="sent" if index % 2 else "failed",
                           code=None if index % 2 else 20019)  # fmt: skip
        ShareVisit.objects.create(share=share, visitor=f"v{index}", day=today())
        if index % 5 == 0:
            CommentReport.objects.create(comment=comment, reporter=member, reason="spam")
        if index % 7 == 0:
            TierChange.objects.create(account=account, kind="upgrade", from_tier=tier_list[0],
                                      to_tier=member.tier, measured_points=1)  # fmt: skip


def query_counts(client) -> dict[str, int]:
    client.get("/admin/reports/moderation/")  # warm up Django's and Wagtail's own caches
    counts = {}
    for chart in CHARTS:
        for table in chart.tables:
            with CaptureQueriesContext(connection) as queries:
                table.selector(last_days(90))
            counts[f"{chart.slug}:{table.name}"] = len(queries)
        clear_report_cache()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/admin/reports/{chart.slug}/").status_code == 200
        counts[f"page {chart.slug}"] = len(queries)
    return counts


def test_queries_per_chart_do_not_grow_with_members(client, staff, tiers, post):
    client.force_login(staff[roles.ADMINISTRATOR])
    populate(5, tiers, post)
    few = query_counts(client)
    populate(45, tiers, post)
    many = query_counts(client)
    assert few == many
    assert max(count for key, count in few.items() if not key.startswith("page")) <= 5
