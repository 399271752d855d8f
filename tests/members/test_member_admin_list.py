"""The staff member list: filters, search, sorting, CSV export (formula-safe, audited), query
counts that do not grow with the rows shown, and who may open it."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group

from core import roles
from core.models import AuditEntry
from loyalty import services as loyalty
from members.models import Member, Segment
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/members/"
EXPORT_URL = "/admin/members/export.csv"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def listed(response) -> list[str]:
    """Display names in the list's table, in order (empty when nothing matches)."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    if 'data-testid="member-list"' not in html:
        return []
    table = html.split('data-testid="member-list"')[1].split("</table>")[0]
    return re.findall(r'<a href="/admin/members/\d+/">([^<]+)</a>', table)


@pytest.fixture
def tiers(db):
    return standard_tiers()


@pytest.fixture
def staff(client, tiers):
    user = StaffFactory(username="member-admin")
    client.force_login(user)
    return user


def give_points(member: Member, amount: int, staff) -> None:
    loyalty.points_adjust(member=member, amount=amount, reason="测试积分", actor=staff)


@pytest.fixture
def people(tiers, staff):
    """Four members who differ in every filtered attribute."""
    jia = MemberFactory(
        display_name="甲", weibo_screen_name="微博甲", membership_number="VIP-001",
        tier=tiers["gold"], segment=Segment.CREATOR, joined_at=local(2026, 1, 10),
        last_seen_at=local(2026, 5, 1), weibo_verified=True, weibo_followers=5000,
    )  # fmt: skip
    yi = MemberFactory(
        display_name="乙", weibo_screen_name="微博乙", tier=tiers["regular"],
        segment=Segment.SPECTATOR, joined_at=local(2025, 6, 1), last_seen_at=local(2026, 3, 1),
        weibo_followers=50, zombie_suspected=True, zombie_reasons=["few_followers", "new_account"],
    )  # fmt: skip
    bing = MemberFactory(
        display_name="丙", weibo_screen_name="微博丙", state=Member.State.APPLICANT, tier=None,
        joined_at=None, last_seen_at=local(2026, 5, 10), weibo_followers=300,
    )  # fmt: skip
    ding = MemberFactory(
        display_name="丁", weibo_screen_name="微博丁", tier=tiers["silver"],
        segment=Segment.CRITIC, joined_at=local(2025, 12, 31, 23), last_seen_at=None,
        weibo_verified=True, weibo_followers=12000,
    )  # fmt: skip
    give_points(jia, 800, staff)
    give_points(ding, 150, staff)
    Member.objects.filter(pk=ding.pk).update(state=Member.State.SUSPENDED)
    return {"甲": jia, "乙": yi, "丙": bing, "丁": ding}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["丁", "丙", "乙", "甲"]),  # newest first
        ({"tier": "gold"}, ["甲"]),
        ({"state": "applicant"}, ["丙"]),
        ({"state": "suspended"}, ["丁"]),
        ({"segment": "critic"}, ["丁"]),
        ({"joined_from": "2025-12-31", "joined_to": "2026-01-10"}, ["丁", "甲"]),  # inclusive
        ({"active_from": "2026-04-01"}, ["丙", "甲"]),
        ({"active_to": "2026-03-01"}, ["乙"]),
        ({"verified": "yes"}, ["丁", "甲"]),
        ({"verified": "no"}, ["丙", "乙"]),
        ({"followers_min": "300", "followers_max": "5000"}, ["丙", "甲"]),
        ({"points_min": "100"}, ["丁", "甲"]),
        ({"points_max": "0"}, ["丙", "乙"]),
        ({"points_min": "151", "points_max": "800"}, ["甲"]),
        ({"zombie": "yes"}, ["乙"]),
        ({"zombie": "no"}, ["丁", "丙", "甲"]),
        ({"q": "微博乙"}, ["乙"]),
        ({"q": "vip-001"}, ["甲"]),
        ({"q": "丙"}, ["丙"]),
        ({"tier": "silver", "verified": "yes", "points_min": "100"}, ["丁"]),
        ({"segment": "joiner"}, []),
    ],
)
def test_filters_and_search(client, tiers, people, params, expected):
    if "tier" in params:
        params = {**params, "tier": tiers[params["tier"]].pk}
    assert listed(client.get(LIST_URL, params)) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("points", ["乙", "丙", "丁", "甲"]),  # 0, 0, 150, 800 (ties: oldest first)
        ("-points", ["甲", "丁", "丙", "乙"]),
        ("-followers", ["丁", "甲", "丙", "乙"]),
        ("joined", ["乙", "丁", "甲", "丙"]),  # never joined: last
        ("-active", ["丙", "甲", "乙", "丁"]),  # never seen: last
        ("name", ["丁", "丙", "乙", "甲"]),
        ("tier", ["乙", "丁", "甲", "丙"]),
        ("nonsense", ["丁", "丙", "乙", "甲"]),  # unknown: the default order
    ],
)
def test_columns_sort_both_ways(client, people, sort, expected):
    assert listed(client.get(LIST_URL, {"o": sort})) == expected


def test_sort_links_keep_the_filters_and_flip_the_direction(client, people):
    html = client.get(LIST_URL, {"verified": "yes", "o": "-points"}).content.decode()
    assert listed(client.get(LIST_URL, {"verified": "yes", "o": "-points"})) == ["甲", "丁"]
    assert "verified=yes&amp;o=points" in html  # the points header now sorts ascending
    assert 'name="o" value="-points"' in html  # filtering again keeps the order


def test_the_list_shows_points_segment_and_flags(client, people):
    html = client.get(LIST_URL, {"q": "乙"}).content.decode()
    row = html.split('data-testid="member-list"')[1].split("</table>")[0]
    assert "旁观者" in row and "疑似僵尸号" in row and "普通" in row
    html = client.get(LIST_URL, {"q": "甲"}).content.decode()
    row = html.split('data-testid="member-list"')[1].split("</table>")[0]
    assert "<td>800</td>" in row and "认证" in row and "创作者" in row


def test_invalid_filters_are_reported_and_ignored(client, people):
    response = client.get(LIST_URL, {"followers_min": "很多", "verified": "yes"})
    assert listed(response) == ["丁", "甲"]
    assert "输入整数" in response.content.decode()  # the field's error is shown
    response = client.get(LIST_URL, {"points_min": "500", "points_max": "100"})
    assert "不能小于前一个值。" in response.content.decode()
    assert listed(response) == ["甲"]  # the valid half of the range still applies


def test_the_list_is_paginated(client, tiers, staff):
    for index in range(55):
        MemberFactory(display_name=f"第{index:02d}号")
    assert len(listed(client.get(LIST_URL))) == 50
    assert len(listed(client.get(LIST_URL, {"p": 2}))) == 5


# --- CSV export -----------------------------------------------------------------------------------


def exported(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the BOM to read UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_export_holds_the_filtered_list_escaped_and_is_audited(client, tiers, staff, people):
    evil = MemberFactory(
        display_name='=HYPERLINK("http://evil.example","点我")',
        weibo_screen_name="+cmd|' /C calc'!A0", membership_number="@SUM(1)",
        segment=Segment.CREATOR, tier=tiers["gold"],
    )  # fmt: skip
    give_points(evil, 20, staff)

    rows = exported(client.get(EXPORT_URL, {"segment": "creator", "o": "-points"}))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["编号", "昵称", "微博昵称"] and "积分" in header
    assert [row[0] for row in body] == [str(people["甲"].pk), str(evil.pk)]
    evil_row = body[1]
    assert evil_row[1] == '\'=HYPERLINK("http://evil.example","点我")'
    assert evil_row[2] == "'+cmd|' /C calc'!A0"
    assert evil_row[4] == "'@SUM(1)"
    assert evil_row[header.index("积分")] == "20"
    assert evil_row[header.index("用户分层")] == "创作者"

    entry = AuditEntry.objects.get(action="members.exported")
    assert entry.actor == staff
    assert entry.after == {"filters": {"segment": "creator"}, "rows": 2}
    assert entry.ip


def test_export_without_filters_holds_everyone(client, staff, people):
    rows = exported(client.get(EXPORT_URL))
    assert len(rows) == 1 + 4
    assert AuditEntry.objects.get(action="members.exported").after == {"filters": {}, "rows": 4}


def test_the_export_link_carries_the_current_filters(client, people):
    html = client.get(LIST_URL, {"zombie": "yes", "p": "1"}).content.decode()
    assert f'href="{EXPORT_URL}?zombie=yes"' in html


# --- Query counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 50])
def test_queries_do_not_grow_with_the_members_listed(
    client, tiers, staff, count, django_assert_max_num_queries
):
    for index in range(count):
        member = MemberFactory(
            display_name="", weibo_screen_name="", tier=tiers["silver"], segment=Segment.CRITIC
        )
        if index % 2:
            give_points(member, 10, staff)
    with django_assert_max_num_queries(12):
        assert len(listed(client.get(LIST_URL, {"o": "-points"}))) == count
    with django_assert_max_num_queries(12):
        filtered = {"tier": tiers["silver"].pk, "points_min": "0", "segment": "critic"}
        assert len(listed(client.get(LIST_URL, filtered))) == count
    with django_assert_max_num_queries(14):
        assert len(exported(client.get(EXPORT_URL))) == 1 + count


# --- Who may see it -------------------------------------------------------------------------------


@pytest.fixture
def role_users(tiers):
    roles.roles_sync()
    users = {}
    for role in roles.ALL_ROLES:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def test_only_roles_with_the_member_view_permission_open_the_list(client, role_users, people):
    may = {roles.MEMBER_MANAGER, roles.AUDITOR, roles.ADMINISTRATOR}
    member = people["甲"]
    for role, user in role_users.items():
        client.force_login(user)
        for url in (LIST_URL, EXPORT_URL, f"{LIST_URL}{member.pk}/"):
            status = client.get(url).status_code
            assert status == (200 if role in may else 403), (role, url, status)
    exports = AuditEntry.objects.filter(action="members.exported")
    assert sorted(exports.values_list("actor__groups__name", flat=True)) == sorted(may)
