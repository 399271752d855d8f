"""Weibo login through allauth against the running Weibo sandbox, end to end over HTTP."""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from core import crypto
from members.models import AdmissionDecision, AdmissionSettings, Consent, InvitationCode, Member
from members.services import invitation_batch_create
from tests.factories import StaffFactory, standard_tiers
from tests.members.weibo_flow import (
    accept_consent,
    authorize_at_weibo,
    return_to_site,
    start_login,
    weibo_login,
)

pytestmark = pytest.mark.django_db

SMALL_ACCOUNT = "1001000002"  # 320 followers
BIG_ACCOUNT = "1001000001"  # verified, 1.25 M followers
ZOMBIE_ACCOUNT = "1001000003"


@pytest.fixture(autouse=True)
def club(weibo_sandbox, landing_site):
    tiers = standard_tiers()
    settings_ = AdmissionSettings.load()
    settings_.default_tier = tiers["regular"]
    settings_.criteria_enabled = False
    settings_.save()
    return tiers


def test_first_login_with_invitation_becomes_member(client, weibo_sandbox):
    response = weibo_login(client, uid=SMALL_ACCOUNT)
    html = response.content.decode()
    assert response.request["PATH_INFO"] == "/members/consent/"
    assert "微博授权说明" in html and "小雨Rain" in html
    # Before consent nothing of the profile is stored.
    assert not Member.objects.exists()

    response = accept_consent(client)
    assert response.request["PATH_INFO"] == "/members/join/"
    member = Member.objects.get(weibo_uid=SMALL_ACCOUNT)
    assert member.state == Member.State.APPLICANT
    assert member.weibo_followers == 320
    assert Consent.objects.filter(member=member).count() == 1

    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    response = client.post("/members/join/invitation/", {"code": code.lower()}, follow=True)
    member.refresh_from_db()
    assert member.state == Member.State.MEMBER
    assert member.tier.code == "regular"
    assert "普通" in response.content.decode()  # the header shows the tier badge
    decision = AdmissionDecision.objects.get(member=member)
    assert decision.route == "invitation" and decision.outcome == "admitted"
    assert InvitationCode.objects.get(code=code).uses == 1


def test_used_invitation_code_is_refused_with_a_clear_message(client):
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    client.post("/members/join/invitation/", {"code": code})
    client.logout()

    weibo_login(client, uid="1001000021")
    accept_consent(client)
    response = client.post("/members/join/invitation/", {"code": code}, follow=True)
    assert "邀请码无效、已过期或已被用完" in response.content.decode()
    assert Member.objects.get(weibo_uid="1001000021").state == Member.State.APPLICANT


def test_first_login_without_qualification_sees_status_page(client):
    settings_ = AdmissionSettings.load()
    settings_.criteria_enabled = True
    settings_.min_followers = 1000
    settings_.save()
    weibo_login(client, uid=SMALL_ACCOUNT)
    response = accept_consent(client)
    html = response.content.decode()
    assert response.request["PATH_INFO"] == "/members/join/"
    assert "微博粉丝数需达到 1000（当前 320）" in html
    assert "使用邀请码" in html

    response = client.post("/members/join/apply/", {"message": "我是品牌的老客户"}, follow=True)
    assert "等候名单第 1 位" in response.content.decode()


def test_weibo_criteria_admit_automatically_but_not_zombies(client):
    settings_ = AdmissionSettings.load()
    settings_.criteria_enabled = True
    settings_.min_followers = 1000
    settings_.min_account_age_days = 365
    settings_.save()
    weibo_login(client, uid=BIG_ACCOUNT)
    accept_consent(client)
    member = Member.objects.get(weibo_uid=BIG_ACCOUNT)
    assert member.state == Member.State.MEMBER
    assert AdmissionDecision.objects.get(member=member).route == "criteria"
    client.logout()

    settings_.min_followers = 0
    settings_.min_account_age_days = 0
    settings_.save()
    weibo_login(client, uid=ZOMBIE_ACCOUNT)
    response = accept_consent(client)
    zombie = Member.objects.get(weibo_uid=ZOMBIE_ACCOUNT)
    assert zombie.zombie_suspected
    assert zombie.state == Member.State.APPLICANT
    assert "账户活跃度不足" in response.content.decode()


def test_returning_member_goes_straight_in_and_profile_is_refreshed(client, weibo_sandbox):
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    client.logout()
    requests.post(
        f"{weibo_sandbox}/_sandbox/users",
        json={"idstr": SMALL_ACCOUNT, "followers_count": 4321},
        timeout=5,
    )

    response = weibo_login(client, uid=SMALL_ACCOUNT)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/"
    assert Member.objects.get(weibo_uid=SMALL_ACCOUNT).weibo_followers == 4321
    assert Consent.objects.count() == 1  # not asked again


def test_next_page_is_kept_through_login_but_not_to_other_sites(client):
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    client.logout()
    response = weibo_login(client, uid=SMALL_ACCOUNT, next_url="/members/me/")
    assert response.request["PATH_INFO"] == "/members/me/"
    client.logout()
    response = weibo_login(client, uid=SMALL_ACCOUNT, next_url="https://evil.example/")
    assert response.request["PATH_INFO"] == "/"


def test_denial_at_weibo_shows_cancelled_page(client):
    response = weibo_login(client, uid=SMALL_ACCOUNT, action="deny")
    assert "您已取消微博授权" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert not Member.objects.exists()


def test_users_show_error_gives_a_clear_page(client, weibo_sandbox):
    requests.post(
        f"{weibo_sandbox}/_sandbox/faults",
        json={
            "path": "/2/users/show.json",
            "mode": "error",
            "error_code": 10001,
            "http_status": 500,
            "error": "system error!",
            "count": 1,
        },
        timeout=5,
    )
    response = weibo_login(client, uid=SMALL_ACCOUNT)
    html = response.content.decode()
    assert "我们没能从微博读取您的账户信息" in html
    assert "10001" in html
    assert not response.wsgi_request.user.is_authenticated


def test_oauth_state_mismatch_and_replay_are_refused(client):
    authorize = start_login(client)
    callback = authorize_at_weibo(authorize, uid=SMALL_ACCOUNT)
    tampered = callback.replace("state=", "state=x")
    response = return_to_site(client, tampered)
    assert "登录请求已失效" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated

    response = return_to_site(client, callback)  # the genuine one still works once
    assert response.wsgi_request.user.is_authenticated
    client.logout()
    response = return_to_site(client, callback)  # replay
    assert not response.wsgi_request.user.is_authenticated


def test_declining_consent_stores_nothing(client):
    weibo_login(client, uid=SMALL_ACCOUNT)
    response = client.post("/members/consent/", {"decision": "decline"})
    assert "我们没有保存您的任何微博资料" in response.content.decode()
    assert not Member.objects.exists()


def test_token_is_encrypted_at_rest(client):
    weibo_login(client, uid=SMALL_ACCOUNT)
    accept_consent(client)
    member = Member.objects.get(weibo_uid=SMALL_ACCOUNT)
    token = crypto.decrypt(member.weibo_token_encrypted)
    assert token and token.startswith("2.00")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM members_member")
        dump = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM django_session")
        dump += repr(cursor.fetchall())
        cursor.execute("SELECT * FROM socialaccount_socialaccount")
        dump += repr(cursor.fetchall())
    assert token not in dump


def test_weibo_login_never_grants_staff_and_staff_cannot_use_weibo(client):
    from allauth.socialaccount.models import SocialAccount

    weibo_login(client, uid=SMALL_ACCOUNT)
    user = SocialAccount.objects.get(uid=SMALL_ACCOUNT).user
    assert not user.is_staff and not user.is_superuser
    client.logout()

    user.is_staff = True
    user.save()
    response = weibo_login(client, uid=SMALL_ACCOUNT)
    assert "工作人员账户不能通过微博登录" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_members_cannot_use_the_password_form(client):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="someone", password="a-long-password-1")
    response = client.post(
        "/accounts/login/", {"login": "someone", "password": "a-long-password-1"}
    )
    assert response.status_code == 403
    assert "会员请使用微博登录" in response.content.decode()
