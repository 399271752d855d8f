"""A member's PIPL rights: a complete copy of their data, and erasure when they leave.

One member is given data in every table that can hold some (through the services that write
it); another member's data sits beside it. The export must carry all of the first and none of
the second; leaving must leave no trace of the first member's identity or words in any text
column of any table, while every points figure stays as it was.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from community.interaction.services import (
    comment_create,
    comment_like_toggle,
    comment_moderate,
    comment_report,
    item_like_toggle,
)
from community.models import PostPage
from community.participation.services import activity_register, offer_claim, registration_checkin
from core import audit, crypto
from core.models import AuditEntry, DailyActiveMember, Notification
from core.notifications import notify
from loyalty.models import EarningRule, PointsAccount, PointsEntry, Reward, Trigger
from loyalty.selectors import liability, reconcile
from loyalty.services import points_adjust, points_award_for_event, reward_redeem
from loyalty.services.rewards import Shipping
from members.models import (
    AdmissionDecision,
    Application,
    Consent,
    DataExport,
    Member,
    MemberSession,
    SealedCopy,
)
from members.privacy.services import (
    data_export_build,
    data_export_request,
    data_exports_purge,
    sealed_copies_purge,
    sealed_copy_open,
)
from members.selectors import current_consent_text
from members.services import member_leave
from share.models import Share, ShareAttempt, ShareReferral, ShareVisit
from share.services import link_token, referral_attach, share_confirm, share_link
from share.subjects import tier_subject
from tests.community.test_claims import key, make_offer, publish_item
from tests.community.test_registrations import make_activity
from tests.conftest import wait_until
from tests.factories import MemberFactory, StaffFactory, standard_tiers

UID = "7700990001"
SCREEN_NAME = "隐私测试微博名Zq"
DISPLAY_NAME = "隐私测试昵称Zq"
COMMENT = "独一无二的评论内容XK42"
SHARE_TEXT = "独一无二的分享文案YK42"
CONSENT_IP = "203.0.113.77"
PHONE = "13800004242"
ADDRESS = "上海市隐私路42号"
TOKEN = "weibo-token-privacy-42"

OTHER_UID = "7700990002"
OTHER_NAME = "旁边的会员Wb"
OTHER_COMMENT = "别人的评论QQ77"


@pytest.fixture
def private_media(settings, tmp_path):
    """Files of this test in a directory of its own (a worker process keeps the usual one)."""
    settings.MEDIA_ROOT = tmp_path / "media"


def _member(tier, *, uid: str, screen_name: str, display_name: str, ip: str = CONSENT_IP) -> Member:
    member = MemberFactory(
        tier=tier,
        weibo_uid=uid,
        weibo_screen_name=screen_name,
        display_name=display_name,
        weibo_avatar_url=f"https://tvax1.sinaimg.cn/large/{uid}.jpg",
        weibo_location="浙江 杭州",
        weibo_gender="f",
        weibo_followers=5000,
        weibo_verified_reason=f"{display_name}的认证说明",
        weibo_token_encrypted=crypto.encrypt(f"{TOKEN}-{uid}"),
        weibo_token_state=Member.TokenState.VALID,
        membership_number=f"VIP-{uid}",
        segment="critic",
        segment_reasons={"comments": 1},
        segment_since=timezone.now(),
    )
    Consent.objects.update_or_create(
        member=member, text=current_consent_text(), defaults={"ip": ip}
    )
    return member


@pytest.fixture
def world(db, private_media):
    """Our member with data in every table, and another member beside them."""
    tiers = standard_tiers()
    staff = StaffFactory()
    member = _member(tiers["silver"], uid=UID, screen_name=SCREEN_NAME, display_name=DISPLAY_NAME)
    other = _member(
        tiers["silver"], uid=OTHER_UID, screen_name="旁边微博", display_name=OTHER_NAME,
        ip="198.51.100.200",
    )  # fmt: skip

    Application.objects.create(member=member, message=f"我是{DISPLAY_NAME}，请让我加入")
    AdmissionDecision.objects.create(
        member=member, outcome="admitted", route="membership_number", reason=f"会员卡号 VIP-{UID}"
    )
    audit.audit_record(action="member.admitted", target=member, after={"weibo_uid": UID})
    notify(user_id=member.user_id, kind=Notification.Kind.CLUB_MESSAGE,
           title=f"{DISPLAY_NAME}，您好", body="俱乐部消息正文")  # fmt: skip
    notify(user_id=other.user_id, kind=Notification.Kind.CLUB_MESSAGE, title=f"{OTHER_NAME}，您好")
    DailyActiveMember.objects.create(member=member, day=timezone.localdate())

    # Points: an adjustment (ledger, lot), pending points, a physical reward redeemed.
    points_adjust(member=member, amount=800, reason="开户赠送", actor=staff)
    points_adjust(member=other, amount=300, reason="开户赠送", actor=staff)
    EarningRule.objects.create(
        name="问卷", trigger=Trigger.CUSTOM, event_code="survey", points=40, pending_days=5
    )
    points_award_for_event(
        member=member, trigger=Trigger.CUSTOM, event_code="survey", natural_key="survey:1"
    )
    reward = Reward.objects.create(
        name="保温杯", cost=100, fulfilment=Reward.Fulfilment.PHYSICAL, stock_total=5
    )
    reward_redeem(
        member=member, reward=reward, idempotency_key=key(),
        shipping=Shipping(name="王隐私", phone=PHONE, address=ADDRESS),
    )  # fmt: skip

    # Community: an offer claimed, an activity registered and checked in, comments, likes,
    # a report, and a mention of our member in someone else's comment.
    offer = make_offer(codes=3)
    offer_claim(offer=offer, member=member, idempotency_key=key())
    activity = make_activity()
    registration = activity_register(activity=activity, member=member)
    registration_checkin(registration=registration, method="staff", actor=staff)
    post = publish_item(
        PostPage(title="会员讨论帖", slug="privacy-post", summary="讨论", access="members",
                 body=[("paragraph", "<p>正文</p>")])
    )  # fmt: skip
    own_comment = comment_create(member=member, page=post, body=COMMENT, ip="198.51.100.9")
    other_comment = comment_create(
        member=other, page=post, body=f"@{SCREEN_NAME} {OTHER_COMMENT}", ip="198.51.100.10"
    )
    comment_like_toggle(member=member, comment=other_comment)
    comment_like_toggle(member=other, comment=own_comment)
    item_like_toggle(member=member, page=post)
    comment_report(member=member, comment=other_comment, reason="other",
                   detail=f"{DISPLAY_NAME}的举报说明")  # fmt: skip
    # A moderator's decision on the member's comment (reported, then kept): the audit trail
    # records its text.
    comment_report(member=other, comment=own_comment, reason="other", detail="")
    comment_moderate(comment=own_comment, actor=staff, decision="approve")

    # Share: a confirmed share of the member's tier, an attempt, a landing visit, a referral.
    subject = tier_subject(member)
    link = share_link(link_token(member=member, subject_key=subject.key))
    share = share_confirm(
        member=member, subject=subject, text=f"{SHARE_TEXT} {link}", with_card=True,
        show_name=True, rip="192.0.2.55", confirmation_key=key(),
    )  # fmt: skip
    ShareAttempt.objects.create(
        share=share, number=1, outcome="retry", message="暂时错误", started_at=timezone.now()
    )
    ShareVisit.objects.create(share=share, visitor="visitor-cookie-1", day=timezone.localdate())
    newcomer = MemberFactory(state=Member.State.APPLICANT, display_name="新来的")
    referral_attach(member=newcomer, share_id=share.pk)
    return {"member": member, "other": other, "post": post, "share": share, "staff": staff}


def _build(member: Member, language: str = "zh-hans") -> DataExport:
    export = data_export_request(member=member, language=language)
    assert data_export_build(export_id=export.pk) == DataExport.State.READY
    export.refresh_from_db()
    return export


def _unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def _download(client, export: DataExport):
    return client.get(f"/members/me/exports/{export.token}/download/")


# --- Export -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_holds_everything_about_the_member_and_nothing_about_others(client, world):
    member = world["member"]
    export = _build(member)
    client.force_login(member.user)

    page = client.get(f"/members/me/exports/{export.token}/")
    assert page.status_code == 200 and "下载 ZIP 文件" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    response = _download(client, export)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip" and "private" in response["Cache-Control"]
    files = _unzip(b"".join(response.streaming_content))

    expected = {
        "profile", "segment", "consents", "admission", "invitations", "notifications",
        "notification_preferences", "audit_entries", "active_days", "points_account",
        "points_ledger", "points_lots", "pending_points", "tier_changes", "redemptions",
        "offer_claims", "registrations", "offer_waitlist", "draw_entries", "comments",
        "comment_revisions", "likes",
        "comment_reports", "mentions", "activity_photos", "photo_reports", "shares",
        "share_attempts", "referrals", "partner_links", "partner_activity",
    }  # fmt: skip
    assert {name.rsplit(".", 1)[0] for name in files} == expected | {"README"}
    data = {name[:-5]: json.loads(text) for name, text in files.items() if name.endswith(".json")}
    assert data["profile"]["weibo"]["uid"] == UID
    assert data["profile"]["weibo"]["screen_name"] == SCREEN_NAME
    assert "weibo_token_encrypted" not in files["profile.json"] and TOKEN not in str(files)
    assert data["segment"]["segment"] == "critic"
    assert data["consents"][0]["ip"] == CONSENT_IP
    assert data["admission"]["application"]["message"].startswith("我是")
    assert {e["action"] for e in data["audit_entries"]} >= {"member.admitted"}
    assert len(data["active_days"]) == 1
    assert data["points_account"]["balance"] == 700 and data["points_account"]["pending"] == 40
    assert [e["amount"] for e in data["points_ledger"]] == [800, 40, -100]
    assert data["points_lots"][0]["amount"] == 800
    assert data["pending_points"][0]["state"] == "pending"
    assert data["redemptions"][0]["shipping_phone"] == PHONE
    assert data["redemptions"][0]["shipping_address"] == ADDRESS
    assert data["offer_claims"][0]["code"].endswith("-C000")
    assert data["registrations"][0]["checked_in_at"] is not None
    assert data["comments"][0]["shown_text"] == COMMENT
    assert data["comment_revisions"][0]["ip"] == "198.51.100.9"
    assert {like["kind"] for like in data["likes"]} == {"item", "comment"}
    assert data["comment_reports"][0]["detail"] == f"{DISPLAY_NAME}的举报说明"
    assert len(data["mentions"]) == 1
    assert data["shares"][0]["text"].startswith(SHARE_TEXT)
    assert data["shares"][0]["landing_visitors"] == 1
    assert data["shares"][0]["applications_brought"] == 1
    assert data["share_attempts"][0]["message"] == "暂时错误"
    assert data["referrals"][0]["direction"] == "brought_by_my_share"
    # CSV files carry the same rows for spreadsheets (with a BOM, so Excel reads UTF-8).
    assert files["comments.csv"].startswith("\ufeff") and COMMENT in files["comments.csv"]
    assert "-100" in files["points_ledger.csv"]  # a formula-like cell is quoted: '-100
    assert "'-100" in files["points_ledger.csv"]
    # The README explains every file, in Chinese by default.
    assert "个人信息副本" in files["README.txt"] and "points_ledger.csv" in files["README.txt"]
    # Nothing of the other member: not their uid, name or words, not even in a mention. Only
    # what the club told our member (the notification that someone mentioned them) names them.
    titles = [n["title"] for n in data["notifications"]]
    assert f"{DISPLAY_NAME}，您好" in titles
    assert [t for t in titles if OTHER_NAME in t] == [f"{OTHER_NAME} 在「会员讨论帖」中提到了您"]
    assert f"{OTHER_NAME}，您好" not in files["notifications.json"]
    everything = "\n".join(v for k, v in files.items() if not k.startswith("notifications."))
    for foreign in (OTHER_UID, OTHER_NAME, OTHER_COMMENT, "新来的"):
        assert foreign not in everything
    assert AuditEntry.objects.filter(
        action="member.data_export_downloaded", target_id=str(member.pk)
    ).exists()


@pytest.mark.django_db
def test_readme_is_in_english_for_a_member_reading_in_english(world):
    export = _build(world["member"], language="en")
    with default_storage.open(export.file_name, "rb") as handle:
        files = _unzip(handle.read())
    assert "Copy of your personal information" in files["README.txt"]
    assert "个人信息副本" not in files["README.txt"]


@pytest.mark.django_db
def test_another_member_cannot_download_the_export(client, world):
    export = _build(world["member"])
    client.force_login(world["other"].user)
    assert _download(client, export).status_code == 404
    assert client.get(f"/members/me/exports/{export.token}/").status_code == 404
    client.logout()
    response = _download(client, export)
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.django_db
def test_the_link_expires_and_beat_deletes_the_file(
    client, world, settings, django_capture_on_commit_callbacks
):
    export = _build(world["member"])
    assert export.expires_at - export.finished_at == timedelta(days=settings.PRIVACY_EXPORT_DAYS)
    client.force_login(world["member"].user)
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _download(client, export)
    assert response.status_code == 410 and "下载链接已过期" in response.content.decode()
    assert default_storage.exists(export.file_name)

    with django_capture_on_commit_callbacks(execute=True):
        assert data_exports_purge() == 1
    assert not default_storage.exists(export.file_name)
    export.refresh_from_db()
    assert export.state == DataExport.State.EXPIRED and export.file_name == ""
    assert _download(client, export).status_code == 410


@pytest.mark.django_db
def test_the_file_is_not_reachable_as_media(client, world):
    export = _build(world["member"])
    assert export.file_name.startswith("private/")
    client.force_login(world["member"].user)
    assert client.get(f"/media/{export.file_name}").status_code == 404


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_account_page_starts_the_export_and_a_worker_builds_it(client, celery_worker_process):
    tiers = standard_tiers()
    member = _member(tiers["silver"], uid=UID, screen_name=SCREEN_NAME, display_name=DISPLAY_NAME)
    points_adjust(member=member, amount=120, reason="开户赠送", actor=StaffFactory())
    client.force_login(member.user)
    assert "导出我的数据" in client.get("/members/me/").content.decode()

    response = client.post("/members/me/export/")
    assert response.status_code == 302
    status_url = response["Location"]
    assert "导出我的数据" in client.get(status_url).content.decode()
    export = DataExport.objects.get(member=member)
    assert wait_until(
        lambda: DataExport.objects.filter(pk=export.pk, state=DataExport.State.READY).exists(),
        timeout=60,
    )
    page = client.get(status_url).content.decode()
    assert "下载 ZIP 文件" in page
    export.refresh_from_db()
    files = _unzip(b"".join(_download(client, export).streaming_content))
    default_storage.delete(export.file_name)
    assert json.loads(files["points_ledger.json"])[0]["amount"] == 120
    assert AuditEntry.objects.filter(action="member.data_export_requested").count() == 1


# --- Leaving -------------------------------------------------------------------------------------


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name
            FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json',
                                  'inet')
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def _find(needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a text, varchar, json or inet column holds it."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(
                    f"SELECT 1 FROM {quote(table)} WHERE {quote(column)}::text LIKE %s LIMIT 1",
                    [f"%{needle}%"],
                )
                if cursor.fetchone():
                    found.append((table, column, needle))
    return found


def _books(now) -> dict:
    figures = liability(now=now)
    return {
        "ledger": PointsEntry.objects.aggregate(total=Sum("amount"))["total"],
        "balances": sorted(PointsAccount.objects.values_list("member_id", "balance", "pending")),
        "liability": figures,
        "entries": PointsEntry.objects.count(),
    }


@pytest.mark.django_db
def test_leaving_erases_the_member_everywhere_and_keeps_the_books(
    client, world, django_capture_on_commit_callbacks
):
    member, other = world["member"], world["other"]
    client.force_login(member.user)  # a stored session of the member
    export = _build(member)
    share_card = Share.objects.get(pk=world["share"].pk).card_name
    needles = [UID, SCREEN_NAME, DISPLAY_NAME, COMMENT, SHARE_TEXT, CONSENT_IP, PHONE, ADDRESS,
               member.weibo_token_encrypted, "198.51.100.9", "192.0.2.55"]  # fmt: skip
    # The audit trail is searched too: it names people only through pseudonyms (core.audit).
    assert {needle for _t, _c, needle in _find(needles)} == set(needles)
    now = timezone.now()
    books = _books(now)
    assert reconcile() == []

    with django_capture_on_commit_callbacks(execute=True):
        member_leave(member=member)

    assert _find(needles) == []
    assert _books(now) == books
    assert reconcile() == []
    call_command("reconcile_points", stdout=io.StringIO())  # exits 1 on any discrepancy

    member.refresh_from_db()
    assert member.state == Member.State.LEFT
    assert not [s for s in MemberSession.objects.all() if s.get_decoded().get("_auth_user_id")]
    assert not default_storage.exists(export.file_name)
    if share_card:
        assert not default_storage.exists(share_card)
    # The other member's data is untouched, apart from the mention, which names no one now.
    assert Notification.objects.filter(user=other.user).exists()
    assert OTHER_COMMENT in world["post"].comments.get(member=other).body
    assert "@已退出会员" in world["post"].comments.get(member=other).body
    assert ShareReferral.objects.filter(share=world["share"]).count() == 1
    # Other members see a placeholder where the comment was.
    client.force_login(other.user)
    page = client.get(world["post"].url).content.decode()
    assert "该会员已退出，内容已删除" in page and COMMENT not in page and DISPLAY_NAME not in page


@pytest.mark.django_db
def test_no_sealed_copy_without_a_legal_hold(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        member_leave(member=world["member"])
    assert not SealedCopy.objects.exists()


@pytest.mark.django_db
def test_legal_hold_keeps_an_encrypted_copy_until_the_period_ends(
    world, settings, django_capture_on_commit_callbacks
):
    settings.PRIVACY_LEGAL_HOLD_DAYS = 30
    member = world["member"]
    with django_capture_on_commit_callbacks(execute=True):
        member_leave(member=member)

    copy = SealedCopy.objects.get(member=member)
    assert copy.hold_until - copy.created_at == pytest.approx(
        timedelta(days=30), abs=timedelta(seconds=60)
    )
    with default_storage.open(copy.file_name, "rb") as handle:
        stored = handle.read()
    assert UID.encode() not in stored and b"PK" not in stored[:2]  # encrypted, not a plain zip
    files = _unzip(sealed_copy_open(copy=copy))  # made before erasure: the data as it was
    assert json.loads(files["profile.json"])["weibo"]["uid"] == UID
    assert COMMENT in files["comments.json"]
    assert AuditEntry.objects.filter(action="member.sealed_copy_made").exists()

    assert sealed_copies_purge(now=copy.hold_until - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert sealed_copies_purge(now=copy.hold_until + timedelta(seconds=1)) == 1
    assert not default_storage.exists(copy.file_name)
    copy.refresh_from_db()
    assert copy.purged_at is not None and copy.file_name == ""
    assert AuditEntry.objects.filter(action="member.sealed_copy_purged").exists()


@pytest.mark.django_db
def test_export_page_polls_its_progress_in_place(client):
    member = MemberFactory()
    export = data_export_request(member=member, language="zh-hans")
    client.force_login(member.user)
    url = f"/members/me/exports/{export.token}/"
    page = client.get(url).content.decode()
    assert '<progress max="100"' in page
    assert f'hx-get="{url}" hx-trigger="every 2s"' in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    part = client.get(url, HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert html.startswith('<section class="card" data-testid="data-export"')
    assert "<html" not in html and "no-store" in part["Cache-Control"]
    assert data_export_build(export_id=export.pk) == DataExport.State.READY
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "下载 ZIP 文件" in done and "hx-trigger" not in done  # polling stops
