"""A member's life after login: token expiry, suspension, new consent versions, leaving."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from config.asgi import application
from core.models import AuditEntry
from members.models import AdmissionSettings, ConsentText, DataExport, Member
from members.privacy.services import data_export_build
from members.services import (
    invitation_batch_create,
    member_reinstate,
    member_suspend,
    member_token,
    weibo_token_verify,
)
from tests.conftest import wait_until
from tests.factories import StaffFactory, standard_tiers
from tests.members.weibo_flow import accept_consent, weibo_login

UID = "1001000002"


def become_member(client, uid: str = UID) -> Member:
    weibo_login(client, uid=uid)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    return Member.objects.get(weibo_uid=uid)


@pytest.fixture
def club(db, weibo_sandbox, landing_site):
    tiers = standard_tiers()
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.save()
    return tiers


@pytest.mark.django_db
def test_expired_token_asks_for_reauthorisation_and_login_renews_it(client, club, weibo_sandbox):
    member = become_member(client)
    assert weibo_token_verify(member=member) is True

    requests.post(f"{weibo_sandbox}/_sandbox/tokens/expire", json={"uid": UID}, timeout=5)
    assert weibo_token_verify(member=member) is False
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH
    assert member_token(member) is None
    html = client.get("/members/me/").content.decode()
    assert "微博授权已失效，分享前需要重新授权" in html

    # Re-authorising is just logging in again: the token is renewed and works at Weibo.
    response = weibo_login(client, uid=UID, next_url="/members/me/")
    assert "微博授权有效" in response.content.decode()
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.VALID
    assert weibo_token_verify(member=member) is True


@pytest.mark.django_db(transaction=True)
def test_suspension_ends_sessions_and_websockets_at_once(client, club):
    member = become_member(client)
    staff = StaffFactory()
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/members/me/").status_code == 200

    async def open_socket():
        communicator = WebsocketCommunicator(
            application,
            "/ws/events/",
            headers=[
                (b"host", b"testserver"),
                (b"origin", b"http://testserver"),
                (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()),
            ],
        )
        connected, _ = await communicator.connect(timeout=5)
        return communicator, connected

    async def scenario():
        communicator, connected = await open_socket()
        assert connected
        from asgiref.sync import sync_to_async

        await sync_to_async(member_suspend)(member=member, actor=staff, reason="违规发广告")
        output = await communicator.receive_output(timeout=5)
        while output.get("type") == "websocket.send":
            output = await communicator.receive_output(timeout=5)
        reconnect, reconnected = await open_socket()
        await reconnect.disconnect()
        return output, reconnected

    closed, reconnected = async_to_sync(scenario)()
    assert closed["type"] == "websocket.close" and closed["code"] == 4403
    assert reconnected is False  # the old session no longer authenticates a socket

    response = client.get("/members/me/")
    assert response.status_code == 302  # signed out: sent to login
    member.refresh_from_db()
    assert member.state == Member.State.SUSPENDED
    entry = AuditEntry.objects.get(action="member.suspended")
    assert entry.reason == "违规发广告" and entry.before == {"state": "member"}

    # Logging in again while suspended shows why, and lets nothing through.
    response = weibo_login(client, uid=UID)
    assert response.status_code == 403
    assert "您的会员资格目前已被暂停" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated

    member_reinstate(member=member, actor=StaffFactory(), reason="申诉通过")
    response = weibo_login(client, uid=UID)
    assert response.wsgi_request.user.is_authenticated


@pytest.mark.django_db
def test_new_consent_version_asks_again(client, club):
    become_member(client)
    client.logout()
    ConsentText.objects.create(
        version=2,
        title="微博授权说明（更新）",
        body="新增：分享卡片使用您的头像。",
        published_at=timezone.now(),
    )
    response = weibo_login(client, uid=UID)
    assert response.request["PATH_INFO"] == "/members/consent/"
    assert "授权说明已更新" in response.content.decode()
    response = accept_consent(client)
    assert response.request["PATH_INFO"] == "/"
    member = Member.objects.get(weibo_uid=UID)
    assert sorted(member.consents.values_list("text__version", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_member_downloads_their_data(client, club, settings, tmp_path):
    """The export itself is covered in test_privacy.py; here: a member fresh from the Weibo
    login and the invitation finds their profile, consent and admission in it."""
    settings.MEDIA_ROOT = tmp_path
    become_member(client)
    response = client.post("/members/me/export/")
    assert response.status_code == 302
    export = DataExport.objects.get()
    data_export_build(export_id=export.pk)
    response = client.get(f"/members/me/exports/{export.token}/download/")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        profile = json.loads(archive.read("profile.json"))
        consents = json.loads(archive.read("consents.json"))
        admission = json.loads(archive.read("admission.json"))
    assert profile["weibo"]["screen_name"] == "小雨Rain"
    assert consents[0]["version"] == 1
    assert admission["decisions"][0]["route"] == "invitation"
    assert "token" not in repr(profile["weibo"].keys()).replace("token_", "")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_leaving_anonymises_and_revokes_the_token_at_weibo(
    client, club, weibo_sandbox, celery_worker_process
):
    member = become_member(client)
    from members.services import member_token as token_of

    token = token_of(member)
    response = client.post("/members/me/leave/", {"confirm": "leave"})
    assert "我们已撤销微博授权并删除了您的个人资料" in response.content.decode()

    member.refresh_from_db()
    assert member.state == Member.State.LEFT
    assert member.weibo_uid is None and member.weibo_screen_name == ""
    assert member.weibo_token_encrypted == ""
    assert member.user.username == f"left-{member.user_id}"
    assert AuditEntry.objects.filter(action="member.left").exists()

    def revoked_at_weibo():
        info = requests.post(
            f"{weibo_sandbox}/oauth2/get_token_info", data={"access_token": token}, timeout=5
        )
        return info.status_code != 200 and info.json()["error_code"] == 21332

    assert wait_until(revoked_at_weibo, timeout=30)
    # The same Weibo account can come back later, as a new applicant.
    assert client.get("/members/me/").status_code == 302


@pytest.mark.django_db
def test_only_admitted_members_can_be_suspended(club):
    from core.errors import DomainError
    from tests.factories import MemberFactory

    applicant = MemberFactory(state=Member.State.APPLICANT)
    with pytest.raises(DomainError, match="只能暂停正式会员"):
        member_suspend(member=applicant, actor=StaffFactory(), reason="测试")
    applicant.refresh_from_db()
    assert applicant.state == Member.State.APPLICANT
    assert not AuditEntry.objects.filter(action="member.suspended").exists()
