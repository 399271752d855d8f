"""Staff screens in the Wagtail admin: applications, members, invitation codes, customer imports."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import factory
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.csvexport import csv_response, csv_safe
from core.models import AuditEntry
from members import services
from members.models import (
    AdmissionDecision,
    Application,
    Consent,
    ConsentText,
    CustomerImport,
    CustomerRecord,
    InvitationCode,
    Member,
)
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

QUEUE_URL = "/admin/members/applications/"
MEMBERS_URL = "/admin/members/"
INVITATIONS_URL = "/admin/members/invitations/"
NEW_BATCH_URL = "/admin/members/invitations/new/"
IMPORTS_URL = "/admin/members/imports/"


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    member = factory.SubFactory(
        MemberFactory, state=Member.State.APPLICANT, joined_at=None, weibo_followers=1200
    )
    message = factory.Sequence(lambda n: f"我是品牌的老顾客，申请编号 {n}")


def staff_with(*perms: str):
    """A staff user who may enter the admin and holds exactly ``perms`` (``app.codename``)."""
    user = UserFactory(is_staff=True)
    for perm in ("wagtailadmin.access_admin", *perms):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def staff(client, tiers):
    user = StaffFactory(username="reviewer")
    client.force_login(user)
    return user


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Applications -------------------------------------------------------------------------------


def test_queue_lists_pending_applications_oldest_first_with_details(client, staff):
    now = timezone.now()
    newer = ApplicationFactory(member__display_name="后来者", member__weibo_screen_name="微博乙")
    older = ApplicationFactory(
        member__display_name="先到者",
        member__weibo_screen_name="微博甲",
        member__weibo_verified=True,
        member__zombie_suspected=True,
        message="请让我加入俱乐部",
    )
    Application.objects.filter(pk=older.pk).update(submitted_at=now - timedelta(days=2))
    Application.objects.filter(pk=newer.pk).update(submitted_at=now - timedelta(days=1))
    ApplicationFactory(member__display_name="已处理者", state=Application.State.REJECTED)

    html = html_of(client.get(QUEUE_URL))
    pending = html.split('data-testid="pending-applications"')[1].split("</table>")[0]
    assert pending.index("先到者") < pending.index("后来者")
    assert "已处理者" not in pending
    row = pending.split(f'id="application-{older.pk}"')[1].split("</tr>")[0]
    assert "<td>1</td>" in row  # waitlist position
    assert "微博甲" in row and "1200" in row and "请让我加入俱乐部" in row
    assert "疑似僵尸号" in row
    assert 'value="approve"' in row and 'value="reject"' in row
    assert "已处理者" in html.split('data-testid="decided-applications"')[1]


def test_approving_an_application_admits_the_member(client, staff, tiers):
    application = ApplicationFactory(member__display_name="李女士")
    response = client.post(
        f"{QUEUE_URL}{application.pk}/decide/",
        {"decision": "approve", "reason": "老客户，资料完整"},
        follow=True,
    )
    html = html_of(response)
    assert "已通过 李女士 的入会申请。" in html

    member = Member.objects.get(pk=application.member_id)
    assert member.state == Member.State.MEMBER
    assert member.tier == tiers["regular"]
    application.refresh_from_db()
    assert application.state == Application.State.APPROVED
    decision = AdmissionDecision.objects.get(member=member)
    assert decision.outcome == AdmissionDecision.Outcome.ADMITTED
    assert decision.route == AdmissionDecision.Route.APPROVAL
    assert decision.actor == staff and decision.reason == "老客户，资料完整"
    entry = AuditEntry.objects.get(action="member.admitted", target_id=str(member.pk))
    assert entry.actor == staff and entry.reason == "老客户，资料完整"
    assert entry.target_type == "members.Member"
    decided = html.split('data-testid="decided-applications"')[1]
    assert "李女士" in decided and "老客户，资料完整" in decided and "reviewer" in decided


def test_rejecting_an_application_leaves_an_applicant(client, staff):
    application = ApplicationFactory(member__display_name="张先生")
    response = client.post(
        f"{QUEUE_URL}{application.pk}/decide/",
        {"decision": "reject", "reason": "资料不实"},
        follow=True,
    )
    assert "已拒绝 张先生 的入会申请。" in html_of(response)
    member = Member.objects.get(pk=application.member_id)
    assert member.state == Member.State.APPLICANT
    application.refresh_from_db()
    assert application.state == Application.State.REJECTED
    decision = AdmissionDecision.objects.get(member=member)
    assert decision.outcome == AdmissionDecision.Outcome.REJECTED
    assert decision.actor == staff and decision.reason == "资料不实"
    assert AuditEntry.objects.filter(
        action="member.application_rejected", target_id=str(member.pk), actor=staff
    ).exists()


def test_a_decision_needs_a_reason(client, staff):
    application = ApplicationFactory()
    response = client.post(
        f"{QUEUE_URL}{application.pk}/decide/",
        {"decision": "approve", "reason": "  "},
        follow=True,
    )
    assert "请填写处理原因。" in html_of(response)
    application.refresh_from_db()
    assert application.state == Application.State.PENDING
    assert application.member.state == Member.State.APPLICANT
    assert not AdmissionDecision.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="member.").exists()


def test_deciding_twice_shows_the_services_message(client, staff):
    application = ApplicationFactory()
    url = f"{QUEUE_URL}{application.pk}/decide/"
    client.post(url, {"decision": "reject", "reason": "不符合"})
    response = client.post(url, {"decision": "approve", "reason": "改主意了"}, follow=True)
    assert "这位申请人已经处理过了。" in html_of(response)
    assert Member.objects.get(pk=application.member_id).state == Member.State.APPLICANT


def test_staff_without_the_permission_cannot_use_the_queue(client, tiers):
    application = ApplicationFactory()
    client.force_login(staff_with("members.view_member"))

    assert client.get(QUEUE_URL).status_code == 403
    response = client.post(
        f"{QUEUE_URL}{application.pk}/decide/", {"decision": "approve", "reason": "想通过"}
    )
    assert response.status_code == 403
    application.refresh_from_db()
    assert application.state == Application.State.PENDING
    assert application.member.state == Member.State.APPLICANT
    assert not AdmissionDecision.objects.exists()

    # The menu offers only what the user may open.
    home = html_of(client.get("/admin/"))
    assert MEMBERS_URL in home
    assert QUEUE_URL not in home and INVITATIONS_URL not in home and IMPORTS_URL not in home


def test_a_reviewer_sees_the_queue_in_the_menu(client):
    client.force_login(staff_with("members.change_application"))
    home = html_of(client.get("/admin/"))
    assert QUEUE_URL in home
    assert INVITATIONS_URL not in home
    assert html_of(client.get(QUEUE_URL))


# --- Members ------------------------------------------------------------------------------------


def member_rows(html: str) -> str:
    return html.split('data-testid="member-list"')[1].split("</table>")[0]


def test_members_list_filters_by_state_and_tier_and_searches(client, staff, tiers):
    MemberFactory(display_name="金先生", tier=tiers["gold"], membership_number="VIP-0007")
    MemberFactory(display_name="银女士", tier=tiers["silver"], weibo_screen_name="银色月光")
    MemberFactory(display_name="暂停者", tier=tiers["gold"], state=Member.State.SUSPENDED)
    MemberFactory(display_name="申请人甲", tier=None, state=Member.State.APPLICANT)

    rows = member_rows(html_of(client.get(MEMBERS_URL)))
    assert all(name in rows for name in ("金先生", "银女士", "暂停者", "申请人甲"))

    rows = member_rows(html_of(client.get(MEMBERS_URL, {"state": "suspended"})))
    assert "暂停者" in rows and "金先生" not in rows and "银女士" not in rows

    rows = member_rows(html_of(client.get(MEMBERS_URL, {"tier": tiers["gold"].pk})))
    assert "金先生" in rows and "暂停者" in rows
    assert "银女士" not in rows and "申请人甲" not in rows

    rows = member_rows(
        html_of(client.get(MEMBERS_URL, {"tier": tiers["gold"].pk, "state": "member"}))
    )
    assert "金先生" in rows and "暂停者" not in rows

    rows = member_rows(html_of(client.get(MEMBERS_URL, {"q": "vip-0007"})))
    assert "金先生" in rows and "银女士" not in rows
    rows = member_rows(html_of(client.get(MEMBERS_URL, {"q": "月光"})))
    assert "银女士" in rows and "金先生" not in rows
    rows = member_rows(html_of(client.get(MEMBERS_URL, {"q": "申请人"})))
    assert "申请人甲" in rows and "金先生" not in rows

    html = html_of(client.get(MEMBERS_URL, {"q": "没有这个人"}))
    assert "没有符合条件的会员。" in html


def test_members_list_is_paginated_by_fifty(client, staff, tiers):
    for index in range(55):
        MemberFactory(display_name=f"第{index:02d}号", tier=tiers["gold"])
    first = member_rows(html_of(client.get(MEMBERS_URL)))
    second = member_rows(html_of(client.get(MEMBERS_URL, {"p": 2})))
    assert first.count("<tr>") == 50 + 1  # header row
    assert second.count("<tr>") == 5 + 1


def test_members_list_makes_a_constant_number_of_queries(client, staff, tiers):
    tier_cycle = list(tiers.values())

    def add_members(count: int) -> None:
        for index in range(count):
            MemberFactory(tier=tier_cycle[index % len(tier_cycle)])

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(MEMBERS_URL)
        assert response.status_code == 200
        return len(queries)

    add_members(5)
    client.get(MEMBERS_URL)  # warm up per-process caches (site settings, sidebar)
    with_five = count_queries()
    add_members(25)
    with_thirty = count_queries()
    assert with_thirty == with_five
    assert member_rows(client.get(MEMBERS_URL).content.decode()).count("<tr>") == 31


def test_member_detail_shows_profile_consents_decisions_and_audit(client, staff, tiers):
    member = MemberFactory(
        display_name="赵女士",
        state=Member.State.APPLICANT,
        joined_at=None,
        weibo_uid="1009001",
        weibo_screen_name="赵赵在上海",
        weibo_followers=4321,
        weibo_location="上海",
    )
    text = ConsentText.objects.create(version=900, title="测试授权说明", body="正文")
    Consent.objects.create(member=member, text=text, ip="10.1.2.3")
    application = ApplicationFactory(member=member, message="喜欢这个品牌")
    services.application_decide(
        application=application, approve=True, actor=staff, reason="资料齐全", ip="10.0.0.9"
    )

    html = html_of(client.get(f"{MEMBERS_URL}{member.pk}/"))
    assert "赵女士" in html and "赵赵在上海" in html and "1009001" in html and "4321" in html
    consents = html.split('data-testid="consents"')[1].split("</table>")[0]
    assert "v900 测试授权说明" in consents and "10.1.2.3" in consents
    decisions = html.split('data-testid="decisions"')[1].split("</table>")[0]
    assert "准入" in decisions and "人工审核" in decisions and "资料齐全" in decisions
    audit = html.split('data-testid="audit-entries"')[1].split("</table>")[0]
    assert "member.admitted" in audit and "reviewer" in audit and "10.0.0.9" in audit
    assert "喜欢这个品牌" in html
    assert f"{MEMBERS_URL}{member.pk}/suspend/" in html  # admitted now: may be suspended


def test_suspending_and_reinstating_from_the_detail_page(client, staff, tiers):
    member = MemberFactory(display_name="钱先生", tier=tiers["gold"])
    detail = f"{MEMBERS_URL}{member.pk}/"

    response = client.post(f"{detail}suspend/", {"suspend-reason": "  "}, follow=True)
    assert "请填写暂停原因。" in html_of(response)
    member.refresh_from_db()
    assert member.state == Member.State.MEMBER

    response = client.post(f"{detail}suspend/", {"suspend-reason": "发布广告"}, follow=True)
    html = html_of(response)
    assert "已暂停 钱先生 的会员资格。" in html
    assert f"{detail}reinstate/" in html
    member.refresh_from_db()
    assert member.state == Member.State.SUSPENDED
    assert member.state_reason == "发布广告"
    entry = AuditEntry.objects.get(action="member.suspended", target_id=str(member.pk))
    assert entry.actor == staff and entry.reason == "发布广告"
    assert entry.before == {"state": "member"} and entry.after == {"state": "suspended"}
    assert "member.suspended" in html.split('data-testid="audit-entries"')[1]

    response = client.post(f"{detail}reinstate/", {"reinstate-reason": "误判"}, follow=True)
    assert "已恢复 钱先生 的会员资格。" in html_of(response)
    member.refresh_from_db()
    assert member.state == Member.State.MEMBER
    assert AuditEntry.objects.filter(action="member.reinstated", actor=staff).exists()


def test_only_full_members_can_be_suspended(client, staff):
    applicant = MemberFactory(state=Member.State.APPLICANT)
    response = client.post(
        f"{MEMBERS_URL}{applicant.pk}/suspend/", {"suspend-reason": "垃圾信息"}, follow=True
    )
    assert "只能暂停正式会员。" in html_of(response)
    applicant.refresh_from_db()
    assert applicant.state == Member.State.APPLICANT


def test_viewing_members_does_not_allow_suspending_them(client, tiers):
    member = MemberFactory()
    client.force_login(staff_with("members.view_member"))
    html = html_of(client.get(f"{MEMBERS_URL}{member.pk}/"))
    assert "/suspend/" not in html
    response = client.post(f"{MEMBERS_URL}{member.pk}/suspend/", {"suspend-reason": "试试"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.state == Member.State.MEMBER
    assert not AuditEntry.objects.filter(action="member.suspended").exists()


def test_members_screens_need_the_view_permission(client):
    member = MemberFactory()
    client.force_login(staff_with("members.change_application"))
    assert client.get(MEMBERS_URL).status_code == 403
    assert client.get(f"{MEMBERS_URL}{member.pk}/").status_code == 403


# --- Invitation codes ---------------------------------------------------------------------------


def test_creating_an_invitation_batch_shows_the_codes_and_offers_a_csv(client, staff):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        NEW_BATCH_URL,
        {"count": 5, "max_uses": 2, "expires_on": tomorrow.isoformat(), "batch": "春季活动"},
        follow=True,
    )
    html = html_of(response)
    assert "已生成 5 个邀请码（批次 春季活动）。" in html

    codes = list(InvitationCode.objects.filter(batch="春季活动"))
    values = {code.code for code in codes}
    assert len(codes) == 5 and len(values) == 5
    assert all(len(value) == 12 and value.isalnum() and value.isupper() for value in values)
    assert all(code.created_by == staff and code.max_uses == 2 for code in codes)
    end_of_tomorrow = timezone.make_aware(datetime.combine(tomorrow + timedelta(days=1), time.min))
    assert all(code.expires_at == end_of_tomorrow for code in codes)
    listed = html.split('data-testid="batch-codes"')[1]
    assert all(value in listed for value in values)
    assert AuditEntry.objects.filter(action="invitations.created", actor=staff).exists()

    InvitationCode.objects.create(code="OTHERBATCH01", batch="别的批次")
    response = client.get("/admin/members/invitations/export.csv", {"batch": "春季活动"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["邀请码", "批次"]
    assert {row[0] for row in rows[1:]} == values
    assert all(row[1] == "春季活动" and row[2] == "2" for row in rows[1:])

    html = html_of(client.get(INVITATIONS_URL))
    assert all(value in html for value in values) and "OTHERBATCH01" in html
    assert "0 / 2" in html


def test_invitation_batch_form_validates_its_input(client, staff):
    html = html_of(client.post(NEW_BATCH_URL, {"count": 1001, "max_uses": 1}))
    assert not InvitationCode.objects.exists()
    assert "1000" in html

    client.post(NEW_BATCH_URL, {"count": 1, "max_uses": 1, "batch": "重复"})
    html = html_of(client.post(NEW_BATCH_URL, {"count": 1, "max_uses": 1, "batch": "重复"}))
    assert "这个批次名称已被使用，请换一个。" in html
    assert InvitationCode.objects.count() == 1

    response = client.post(NEW_BATCH_URL, {"count": 3, "max_uses": 1}, follow=True)
    assert html_of(response)
    assert (
        InvitationCode.objects.exclude(batch="重复").filter(batch__startswith="batch-").count() == 3
    )


def test_invitation_screens_check_permissions(client):
    InvitationCode.objects.create(code="SOMEONESCODE", batch="秘密")
    viewer = staff_with("members.view_invitationcode")
    client.force_login(viewer)
    assert "SOMEONESCODE" in html_of(client.get(INVITATIONS_URL))
    assert client.get(NEW_BATCH_URL).status_code == 403
    assert client.post(NEW_BATCH_URL, {"count": 1, "max_uses": 1}).status_code == 403
    assert InvitationCode.objects.count() == 1

    creator = staff_with("members.add_invitationcode")
    client.force_login(creator)
    html = html_of(client.get(INVITATIONS_URL))
    assert "SOMEONESCODE" not in html  # creating codes does not reveal other people's codes
    export = client.get("/admin/members/invitations/export.csv", {"batch": "秘密"})
    assert "SOMEONESCODE" not in export.content.decode("utf-8-sig")

    client.force_login(staff_with("members.view_member"))
    assert client.get(INVITATIONS_URL).status_code == 403
    assert client.get("/admin/members/invitations/export.csv", {"batch": "秘密"}).status_code == 403


def test_csv_safe_neutralises_formulas():
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("+x") == "'+x"
    assert csv_safe("-x") == "'-x"
    assert csv_safe("@x") == "'@x"
    assert csv_safe("\tx") == "'\tx"
    assert csv_safe("\rx") == "'\rx"
    assert csv_safe("ABC=1") == "ABC=1"
    assert csv_safe("张三") == "张三"
    assert csv_safe(12) == "12"
    assert csv_safe(None) == ""


def test_csv_response_is_excel_friendly():
    response = csv_response("名单.csv", ["姓名", "=cmd"], [["王五", "=HYPERLINK(1)"], [None, 3]])
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [["姓名", "'=cmd"], ["王五", "'=HYPERLINK(1)"], ["", "3"]]
    assert "attachment" in response["Content-Disposition"]
    assert "%E5%90%8D%E5%8D%95.csv" in response["Content-Disposition"]


# --- Customer list imports ----------------------------------------------------------------------


def test_uploading_a_customer_list_imports_it_and_reports_bad_rows(
    client, staff, tiers, django_capture_on_commit_callbacks
):
    content = "membership_number,name,tier\nVIP-001,张三,gold\n,无卡号,silver\nVIP-003,王五,银卡\n"
    upload = SimpleUploadedFile("客户.csv", content.encode("utf-8-sig"), "text/csv")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(IMPORTS_URL, {"file": upload})
    job = CustomerImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{IMPORTS_URL}{job.pk}/"
    assert len(callbacks) == 1  # the background import is queued after commit
    assert job.uploaded_by == staff and job.file_name == "客户.csv"
    assert job.state == CustomerImport.State.QUEUED

    html = html_of(client.get(f"{IMPORTS_URL}{job.pk}/"))
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "排队中" in html

    services.customer_import_run(import_id=job.pk)

    html = html_of(client.get(f"{IMPORTS_URL}{job.pk}/"))
    assert 'http-equiv="refresh"' not in html
    assert "已完成" in html and "3 / 3" in html
    errors = html.split('data-testid="import-errors"')[1].split("</table>")[0]
    assert "<td>3</td>" in errors and "会员卡号缺失或格式不对" in errors
    assert errors.count("<tr>") == 2  # header + the one bad row
    assert set(CustomerRecord.objects.values_list("membership_number", "tier__code")) == {
        ("VIP-001", "gold"),
        ("VIP-003", "silver"),
    }

    listing = html_of(client.get(IMPORTS_URL)).split('data-testid="import-list"')[1]
    assert "客户.csv" in listing and "已完成" in listing and "3 / 3" in listing


def test_upload_rejects_files_that_are_not_csv(client, staff):
    upload = SimpleUploadedFile("名单.xlsx", b"PK\x03\x04", "application/octet-stream")
    html = html_of(client.post(IMPORTS_URL, {"file": upload}))
    assert "请上传 .csv 文件。" in html
    assert not CustomerImport.objects.exists()


def test_upload_shows_the_services_encoding_error(client, staff):
    upload = SimpleUploadedFile("乱码.csv", b"\xff\xfe\x00\x81\xff", "text/csv")
    html = html_of(client.post(IMPORTS_URL, {"file": upload}))
    assert "无法识别文件编码，请保存为 UTF-8 CSV。" in html
    assert not CustomerImport.objects.exists()


def test_uploading_needs_the_add_permission(client):
    viewer = staff_with("members.view_customerimport")
    client.force_login(viewer)
    html = html_of(client.get(IMPORTS_URL))
    assert 'enctype="multipart/form-data"' not in html
    upload = SimpleUploadedFile("客户.csv", b"membership_number\nVIP-1\n", "text/csv")
    assert client.post(IMPORTS_URL, {"file": upload}).status_code == 403
    assert not CustomerImport.objects.exists()

    client.force_login(staff_with("members.view_member"))
    assert client.get(IMPORTS_URL).status_code == 403
