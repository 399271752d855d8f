"""The staff member page: every section shows this member's data (and nobody else's), in a
constant number of queries; its actions go through the services, write audit entries with
before/after and reason, and are refused without the right permission."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community.interaction.services import comment_create
from community.participation import services as participation
from core import roles
from core.models import AuditEntry, Notification
from core.notifications import notify
from loyalty import policy
from loyalty import services as loyalty
from loyalty.models import LoyaltySettings, PointsAccount, PointsEntry, TierChange
from members.models import Application, Consent, ConsentText, Member, Segment
from tests.community.test_claims import make_offer
from tests.community.test_registrations import make_activity
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers
from tests.loyalty.conftest import make_reward
from tests.members.test_segments import make_post, share

pytestmark = pytest.mark.django_db


def detail_url(member: Member) -> str:
    return f"/admin/members/{member.pk}/"


def section(html: str, testid: str) -> str:
    assert f'data-testid="{testid}"' in html, testid
    return html.split(f'data-testid="{testid}"')[1].split("</table>")[0]


@pytest.fixture
def tiers(db):
    return standard_tiers()


@pytest.fixture
def staff(client, tiers):
    user = StaffFactory(username="admin-lin")
    client.force_login(user)
    return user


def staff_with(*perms: str):
    user = UserFactory(is_staff=True)
    for perm in ("wagtailadmin.access_admin", *perms):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def lin(tiers, staff):
    """A member with a record in every section of the page."""
    member = MemberFactory(
        display_name="林小姐", weibo_screen_name="林林微博", weibo_uid="5000123",
        weibo_followers=2345, weibo_friends=321, weibo_statuses=4567, tier=tiers["regular"],
        segment=Segment.CREATOR, segment_reasons={"threads": 4, "likes": 12},
        segment_since=timezone.now(), zombie_suspected=True,
        zombie_reasons=["few_followers", "default_avatar"],
    )  # fmt: skip
    text = ConsentText.objects.create(version=7, title="会员授权说明", body="……")
    Consent.objects.create(member=member, text=text, ip="10.1.2.3")
    loyalty.points_adjust(member=member, amount=500, reason="开业补偿", actor=staff)
    loyalty.tier_set_manual(
        member=member, tier=tiers["silver"], until=timezone.localdate() + timedelta(days=60),
        reason="品牌大使", actor=staff,
    )  # fmt: skip
    loyalty.reward_redeem(member=member, reward=make_reward(name="公益捐赠：植树", cost=100))
    participation.activity_register(activity=make_activity(title="春季品鉴会"), member=member)
    offer = make_offer(codes=["LIN-CODE-01"], title="新品九折券")
    participation.offer_claim(offer=offer, member=member, idempotency_key="lin-1")
    post = make_post()
    share(member, post)
    comment_create(member=member, page=post, body="这篇文章很有用，谢谢分享")
    notify(user_id=member.user_id, kind=Notification.Kind.TIER_UP, title="恭喜升级银卡")
    return member


def test_every_section_shows_the_members_data(client, lin):
    other = MemberFactory(display_name="别人")
    comment_create(member=other, page=make_post(), body="别人的评论")

    html = client.get(detail_url(lin)).content.decode()

    assert "林林微博" in html and "5000123" in html and "2345" in html
    segment = html.split('data-testid="member-segment"')[1].split("</td>")[0]
    assert "创作者" in segment and "发起讨论 4，点赞 12" in segment  # the ladder's order
    zombie = html.split('data-testid="member-zombie"')[1].split("</td>")[0]
    assert "粉丝很少" in zombie and "默认头像" in zombie
    assert "银卡" in html.split('data-testid="member-tier"')[1].split("</td>")[0]
    consents = section(html, "consents")
    assert "v7 会员授权说明" in consents and "10.1.2.3" in consents
    tier_changes = section(html, "tier-changes")
    assert "手动设置" in tier_changes and "品牌大使" in tier_changes and "admin-lin" in tier_changes
    assert "400" in section(html, "points-balance")
    entries = section(html, "points-entries")
    assert "开业补偿" in entries and "公益捐赠：植树" in entries
    assert "<td>500</td>" in section(html, "points-lots")
    assert "公益捐赠：植树" in section(html, "redemptions")
    assert "春季品鉴会" in section(html, "registrations")
    claims = section(html, "offer-claims")
    assert "新品九折券" in claims and "LIN-CODE-01" in claims
    assert "会员文章" in section(html, "shares") and "排队中" in section(html, "shares")
    comments = section(html, "comments")
    assert "这篇文章很有用" in comments and "别人的评论" not in comments
    assert "恭喜升级银卡" in section(html, "notifications")
    audit = section(html, "audit-entries")
    assert "points.adjusted" in audit and "loyalty.tier_manual" in audit


def test_queries_do_not_grow_with_the_members_history(client, lin, staff):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(detail_url(lin)).status_code == 200
        return len(captured.captured_queries)

    before = queries()
    post = make_post()
    for index in range(8):
        comment_create(member=lin, page=post, body=f"第 {index} 条评论")
        loyalty.points_adjust(member=lin, amount=10, reason=f"补偿 {index}", actor=staff,
                              idempotency_key=f"more-{index}")  # fmt: skip
        notify(user_id=lin.user_id, kind=Notification.Kind.TIER_UP, title=f"通知 {index}")
    assert queries() == before


# --- Actions --------------------------------------------------------------------------------------


def test_setting_a_tier_with_an_end_date_is_recorded_and_audited(client, lin, staff, tiers):
    until = timezone.localdate() + timedelta(days=30)
    response = client.post(
        f"{detail_url(lin)}tier/",
        {"tier": tiers["gold"].pk, "until": until.isoformat(), "reason": "KOL 合作"},
        follow=True,
    )
    html = response.content.decode()
    assert f"已将等级设为金卡，有效至 {until.isoformat()}。" in html
    lin.refresh_from_db()
    assert lin.tier == tiers["gold"]
    account = PointsAccount.objects.get(member=lin)
    assert (account.manual_tier, account.manual_tier_until) == (tiers["gold"], until)
    change = TierChange.objects.filter(account=account).order_by("-pk").first()
    assert (change.kind, change.manual_until, change.actor) == ("manual", until, staff)
    entry = AuditEntry.objects.filter(action="loyalty.tier_manual").order_by("-pk").first()
    assert entry.target_id == str(lin.pk) and entry.actor == staff
    assert entry.before == {"tier": "silver"} and entry.after["tier"] == "gold"
    assert entry.reason == "KOL 合作"


def test_a_tier_without_an_end_date_holds_for_one_qualifying_period(client, lin, tiers):
    client.post(f"{detail_url(lin)}tier/", {"tier": tiers["platinum"].pk, "reason": "年度大客户"})
    account = PointsAccount.objects.get(member=lin)
    expected = policy.add_months(timezone.localdate(), policy.QUALIFYING_MONTHS)
    assert (account.manual_tier, account.manual_tier_until) == (tiers["platinum"], expected)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"until": "2020-01-01", "reason": "过去的日期"}, "结束日期须晚于今天。"),
        ({"reason": ""}, "原因（必填）：必需字段"),
    ],
)
def test_a_bad_tier_change_changes_nothing(client, lin, tiers, fields, error):
    response = client.post(
        f"{detail_url(lin)}tier/", {"tier": tiers["gold"].pk, **fields}, follow=True
    )
    assert error in response.content.decode()
    lin.refresh_from_db()
    assert lin.tier == tiers["silver"]


def test_adjusting_points_is_audited_and_a_double_submit_adjusts_once(client, lin, staff):
    form = {"amount": "300", "reason": "活动补偿", "idempotency_key": "form-1"}
    response = client.post(f"{detail_url(lin)}points/", form, follow=True)
    assert "已调整 +300 积分。" in response.content.decode()
    client.post(f"{detail_url(lin)}points/", form)
    assert PointsAccount.objects.get(member=lin).balance == 400 + 300
    entry = AuditEntry.objects.filter(action="points.adjusted").order_by("-pk").first()
    assert entry.actor == staff and entry.reason == "活动补偿"
    assert entry.before == {"balance": 400} and entry.after["balance"] == 700
    assert entry.after["amount"] == 300

    response = client.post(
        f"{detail_url(lin)}points/",
        {"amount": "-5000", "reason": "扣多了", "idempotency_key": "form-2"},
        follow=True,
    )
    assert "可用积分不足" in response.content.decode()
    assert PointsAccount.objects.get(member=lin).balance == 700


def test_an_operator_cannot_adjust_beyond_the_daily_limit(client, lin):
    settings_ = LoyaltySettings.load()
    settings_.staff_daily_adjust_limit = 100
    settings_.save()
    operator = staff_with("members.view_member", "loyalty.adjust_points")
    client.force_login(operator)
    html = client.get(detail_url(lin)).content.decode()
    assert 'data-testid="adjust-form"' in html and 'data-testid="tier-form"' not in html
    response = client.post(
        f"{detail_url(lin)}points/",
        {"amount": "500", "reason": "大额补偿", "idempotency_key": "op-1"},
        follow=True,
    )
    assert "超出今天的调整额度" in response.content.decode()
    assert not PointsEntry.objects.filter(actor=operator).exists()


def test_approving_and_rejecting_an_applicant_from_the_member_page(client, staff, tiers):
    applicants = []
    for name in ("待审甲", "待审乙"):
        member = MemberFactory(display_name=name, state=Member.State.APPLICANT, joined_at=None)
        Application.objects.create(member=member, message="老顾客，想加入")
        applicants.append(member)
    approve, reject = applicants

    html = client.get(detail_url(approve)).content.decode()
    assert 'data-testid="decide-form"' in html
    response = client.post(
        f"/admin/members/applications/{approve.application.pk}/decide/",
        {"decision": "approve", "reason": "老客户", "back": "member"},
    )
    assert response["Location"] == detail_url(approve)
    approve.refresh_from_db()
    assert approve.state == Member.State.MEMBER
    admitted = AuditEntry.objects.get(action="member.admitted", target_id=str(approve.pk))
    assert admitted.actor == staff and admitted.reason == "老客户"
    assert admitted.before["state"] == "applicant" and admitted.after["state"] == "member"

    client.post(
        f"/admin/members/applications/{reject.application.pk}/decide/",
        {"decision": "reject", "reason": "资料不全", "back": "member"},
    )
    reject.refresh_from_db()
    assert reject.state == Member.State.APPLICANT
    assert reject.application.state == Application.State.REJECTED
    html = client.get(detail_url(reject)).content.decode()
    assert 'data-testid="decide-form"' not in html  # decided: nothing left to decide
    assert "member.application_rejected" in section(html, "audit-entries")


# --- Permissions ----------------------------------------------------------------------------------


@pytest.fixture
def manager(client, tiers):
    roles.roles_sync()
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=roles.MEMBER_MANAGER))
    client.force_login(user)
    return user


def test_member_managers_suspend_but_do_not_touch_points_or_tiers(client, lin, manager, tiers):
    html = client.get(detail_url(lin)).content.decode()
    assert f"{detail_url(lin)}suspend/" in html
    assert 'data-testid="tier-form"' not in html and 'data-testid="adjust-form"' not in html
    assert "/admin/points/accounts/" not in html  # no loyalty view right: no link either

    tier = client.post(f"{detail_url(lin)}tier/", {"tier": tiers["gold"].pk, "reason": "x"})
    points = client.post(
        f"{detail_url(lin)}points/", {"amount": "9", "reason": "x", "idempotency_key": "m-1"}
    )
    assert tier.status_code == 403 and points.status_code == 403
    lin.refresh_from_db()
    assert lin.tier == tiers["silver"]
    assert PointsAccount.objects.get(member=lin).balance == 400


def test_auditors_read_the_page_but_change_nothing(client, lin, tiers):
    roles.roles_sync()
    auditor = UserFactory(is_staff=True)
    auditor.groups.add(Group.objects.get(name=roles.AUDITOR))
    client.force_login(auditor)
    html = client.get(detail_url(lin)).content.decode()
    actions = html.split('id="actions"')[1].split('id="admission"')[0]
    assert "林林微博" in html and "<form" not in actions
    assert client.post(f"{detail_url(lin)}suspend/", {"suspend-reason": "x"}).status_code == 403
    lin.refresh_from_db()
    assert lin.state == Member.State.MEMBER
