"""The member's share pages and the public landing page, through HTTP as a browser sees them."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from community.models import GatedPage
from members.models import Member
from share import services
from share.models import Share, ShareReferral, ShareVisit
from tests.factories import MemberFactory
from tests.share.conftest import make_sharer, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def sharer(sandbox, club):
    member = make_sharer(sandbox, uid="1001000012", tier=club["tiers"]["gold"])
    register(member, club["pages"]["milan-trip"])
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.force_login(member.user)
    return member, client


def confirm_page(client, trip):
    response = client.get(f"/share/new/?kind=item&ref={trip.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    key = re.search(r'name="confirmation_key" value="([0-9a-f]+)"', html).group(1)
    text = re.search(r'<textarea id="share-text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    return html, key, text


def test_the_confirmation_page_shows_the_exact_text_and_posts_nothing(sharer, club, sandbox):
    member, client = sharer
    trip = club["pages"]["milan-trip"]
    html, key, text = confirm_page(client, trip)
    assert "米兰之旅 2026" in text
    assert "/s/" in text
    assert "确认发布到微博" in html
    assert Share.objects.count() == 0
    assert sandbox.posts() == []


def test_confirming_queues_the_edited_text_with_the_members_ip(sharer, club):
    member, client = sharer
    trip = club["pages"]["milan-trip"]
    _html, key, text = confirm_page(client, trip)
    link = re.search(r"https?://\S+/s/\S+/", text).group(0)
    edited = f"和大家分享米兰之旅！{link}"
    response = client.post("/share/new/", {
        "kind": "item", "ref": trip.pk, "text": edited, "confirmation_key": key,
    })  # fmt: skip
    assert response.status_code == 302
    share = Share.objects.get()
    assert share.text == edited
    assert share.rip == "203.0.113.9"
    assert share.state == Share.State.QUEUED
    mine = client.get("/share/mine/").content.decode()
    assert "米兰之旅 2026" in mine
    assert "排队中" in mine


def test_a_text_over_the_limit_is_refused_with_the_reason_and_nothing_is_queued(sharer, club):
    member, client = sharer
    trip = club["pages"]["milan-trip"]
    _html, key, text = confirm_page(client, trip)
    response = client.post("/share/new/", {
        "kind": "item", "ref": trip.pk, "text": text + "很" * 150, "confirmation_key": key,
    })  # fmt: skip
    assert response.status_code == 400
    assert "超过微博的 140 字上限" in response.content.decode()
    assert Share.objects.count() == 0


def test_a_member_without_a_usable_token_is_asked_to_authorise_first(sharer, club):
    member, client = sharer
    Member.objects.filter(pk=member.pk).update(weibo_token_state=Member.TokenState.NEEDS_REAUTH)
    trip = club["pages"]["milan-trip"]
    _html, key, text = confirm_page(client, trip)
    response = client.post("/share/new/", {
        "kind": "item", "ref": trip.pk, "text": text, "confirmation_key": key,
    })  # fmt: skip
    assert response.status_code == 400
    assert "请先重新授权" in response.content.decode()
    assert Share.objects.count() == 0


def test_outsiders_and_applicants_cannot_reach_the_share_pages(club):
    assert Client().get("/share/mine/").status_code == 302
    applicant = MemberFactory(state=Member.State.APPLICANT)
    client = Client()
    client.force_login(applicant.user)
    trip = club["pages"]["milan-trip"]
    assert client.get(f"/share/new/?kind=item&ref={trip.pk}").status_code == 302
    assert Share.objects.count() == 0


@pytest.fixture
def sent_share(sharer, club, sandbox):
    member, _client = sharer
    from share.subjects import subject_for

    subject = subject_for(member, kind="item", ref=club["pages"]["milan-trip"].pk)
    text, _token, _link = services.draft_text(member=member, subject=subject)
    share = services.share_confirm(
        member=member, subject=subject, text=text, with_card=False, show_name=True,
        rip="203.0.113.9", confirmation_key="k1",
    )  # fmt: skip
    services.share_post(share_id=share.pk)
    share.refresh_from_db()
    return share


def test_the_landing_page_shows_the_teaser_the_sharer_and_the_admission_rule(sent_share, club):
    response = Client().get(f"/s/{sent_share.token}/")
    assert response.status_code == 200
    html = response.content.decode()
    trip = club["pages"]["milan-trip"]
    assert trip.title in html
    assert trip.summary in html
    assert "机密-milan-trip" not in html  # the text behind the paywall never reaches outsiders
    assert 'property="og:title"' in html and 'name="weibo:webpage:title"' in html
    assert "向你推荐" in html and sent_share.member.display_name in html
    assert "邀请码" in html  # the club's admission rule is explained
    assert "用微博登录并申请入会" in html


def test_the_sharer_may_stay_anonymous(sent_share):
    Share.objects.filter(pk=sent_share.pk).update(show_name=False)
    html = Client().get(f"/s/{sent_share.token}/").content.decode()
    assert sent_share.member.display_name not in html
    assert "向你推荐" not in html


def test_refreshes_count_one_visitor_per_day(sent_share):
    visitor = Client(HTTP_USER_AGENT="phone")
    for _ in range(5):
        visitor.get(f"/s/{sent_share.token}/")
    another = Client(HTTP_USER_AGENT="another phone", REMOTE_ADDR="198.51.100.1")
    another.get(f"/s/{sent_share.token}/")
    # Without cookies, the same address and browser still count once.
    for _ in range(3):
        Client(HTTP_USER_AGENT="cookieless", REMOTE_ADDR="198.51.100.2").get(
            f"/s/{sent_share.token}/"
        )
    services.share_visits_flush()
    assert ShareVisit.objects.filter(share=sent_share).count() == 3


def test_the_sharers_own_visits_are_not_counted(sent_share, sharer):
    _member, client = sharer
    client.get(f"/s/{sent_share.token}/")
    services.share_visits_flush()
    assert ShareVisit.objects.count() == 0


def test_an_unknown_token_is_not_found():
    assert Client().get("/s/doesnotexist/").status_code == 404


def test_an_unpublished_item_leaves_only_the_club_invitation(sent_share, club):
    trip = club["pages"]["milan-trip"]
    GatedPage.objects.get(pk=trip.pk).unpublish()
    response = Client().get(f"/s/{sent_share.token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert trip.summary not in html
    assert "用微博登录并申请入会" in html


def test_an_outsider_who_applies_is_credited_to_the_share_and_the_sharer_rewarded(
    sent_share, sandbox
):
    from loyalty.models import EarningRule, PointsAccount, Trigger

    EarningRule.objects.create(name="推荐申请", trigger=Trigger.SHARE_REFERRAL_APPLIED, points=10)
    EarningRule.objects.create(name="推荐入会", trigger=Trigger.SHARE_REFERRAL_ADMITTED, points=90)
    outsider = Client()
    outsider.get(f"/s/{sent_share.token}/")
    from tests.members.weibo_flow import accept_consent, weibo_login

    weibo_login(outsider, uid="1001000021")  # the real login flow against the sandbox
    accept_consent(outsider)
    newcomer = Member.objects.get(weibo_uid="1001000021")
    referral = ShareReferral.objects.get(member=newcomer)
    assert referral.share == sent_share
    sharer_account = PointsAccount.objects.get(member=sent_share.member)
    assert sharer_account.balance == 10

    # Staff admit the newcomer; the sweep gives the second stage once.
    newcomer.state = Member.State.MEMBER
    newcomer.save(update_fields=["state"])
    assert services.referrals_sweep() == 1
    assert services.referrals_sweep() == 0
    sharer_account.refresh_from_db()
    assert sharer_account.balance == 100


def test_a_referral_cookie_altered_in_the_browser_credits_no_share(sent_share, sandbox):
    from tests.members.weibo_flow import accept_consent, weibo_login

    outsider = Client()
    outsider.get(f"/s/{sent_share.token}/")
    value = outsider.cookies["club_ref"].value
    assert value.split(":")[0] == str(sent_share.pk)  # signed, not hidden
    outsider.cookies["club_ref"] = f"{sent_share.pk + 1}:{value.split(':', 1)[1]}"
    weibo_login(outsider, uid="1001000021")
    accept_consent(outsider)
    assert Member.objects.filter(weibo_uid="1001000021").exists()
    assert not ShareReferral.objects.exists()


def test_a_zombie_applicant_is_attributed_but_earns_the_sharer_nothing(sent_share):
    from loyalty.models import EarningRule, PointsAccount, Trigger

    EarningRule.objects.create(name="推荐申请", trigger=Trigger.SHARE_REFERRAL_APPLIED, points=10)
    zombie = MemberFactory(state=Member.State.APPLICANT, zombie_suspected=True)
    assert services.referral_attach(member=zombie, share_id=sent_share.pk)
    assert not PointsAccount.objects.filter(member=sent_share.member, balance__gt=0).exists()


def test_the_card_preview_is_for_the_member_who_may_share_only(sharer, club):
    member, client = sharer
    trip = club["pages"]["milan-trip"]
    url = f"/share/card.jpg?kind=item&ref={trip.pk}&show_name=1"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert Client().get(url).status_code == 302  # an outsider is sent to log in
    applicant = Client()
    applicant.force_login(MemberFactory(state=Member.State.APPLICANT).user)
    assert applicant.get(url).status_code == 302
    # A member of a lower tier may not share (nor preview) a gold activity.
    silver = Client()
    silver.force_login(MemberFactory(tier=club["tiers"]["silver"]).user)
    assert silver.get(url).status_code == 404


def test_the_avatar_is_fetched_from_weibo_once_for_preview_and_confirmation(sharer, club, sandbox):
    import requests
    from django.core.cache import cache

    member, client = sharer
    member.weibo_avatar_url = f"{sandbox.base}/avatars/{member.weibo_uid}/180.jpg"
    member.save(update_fields=["weibo_avatar_url"])
    # No avatar remembered from an earlier test (only this key: clearing the cache would flush
    # the whole Redis database, broker queues included).
    cache.delete(services.avatar_cache_key(member.weibo_avatar_url))
    trip = club["pages"]["milan-trip"]
    fetched = []
    real_get = requests.get

    def counting_get(url, *args, **kwargs):
        if "/avatars/" in url:
            fetched.append(url)
        return real_get(url, *args, **kwargs)

    requests.get = counting_get
    try:
        client.get(f"/share/card.jpg?kind=item&ref={trip.pk}&show_name=1")
        _html, key, text = confirm_page(client, trip)
        client.post("/share/new/", {
            "kind": "item", "ref": trip.pk, "text": text, "confirmation_key": key,
            "with_card": "1", "show_name": "1",
        })  # fmt: skip
    finally:
        requests.get = real_get
    assert Share.objects.get().card_name
    assert len(fetched) == 1


def test_a_member_renewing_consent_after_visiting_a_share_is_no_referral(sent_share, sandbox):
    """An existing member, signed out, opens a share's landing page (and gets its referral
    cookie), then signs in when a new consent version is out and accepts it: that is not
    someone the share brought, so neither the referral nor its points are written."""
    from django.utils import timezone

    from loyalty.models import EarningRule, PointsAccount, PointsEntry, Trigger
    from members.models import ConsentText
    from members.services import invitation_batch_create
    from tests.factories import StaffFactory
    from tests.members.weibo_flow import accept_consent, weibo_login

    EarningRule.objects.create(name="推荐申请", trigger=Trigger.SHARE_REFERRAL_APPLIED, points=10)
    EarningRule.objects.create(name="推荐入会", trigger=Trigger.SHARE_REFERRAL_ADMITTED, points=90)
    browser = Client()
    weibo_login(browser, uid="1001000002")
    accept_consent(browser)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    browser.post("/members/join/invitation/", {"code": code})
    existing = Member.objects.get(weibo_uid="1001000002")
    assert existing.state == Member.State.MEMBER
    browser.logout()

    assert browser.get(f"/s/{sent_share.token}/").status_code == 200
    assert "club_ref" in browser.cookies  # the landing page remembered the share
    ConsentText.objects.create(
        version=2, title="授权说明（更新）", body="新增条款。", published_at=timezone.now()
    )
    response = weibo_login(browser, uid="1001000002")
    assert response.request["PATH_INFO"] == "/members/consent/"
    accept_consent(browser)
    accept_consent(browser)  # and once more, as a double click would
    assert existing.consents.count() == 2

    assert not ShareReferral.objects.exists()
    assert services.referrals_sweep() == 0
    assert not PointsEntry.objects.filter(account__member=sent_share.member).exists()
    assert not PointsAccount.objects.filter(member=sent_share.member, balance__gt=0).exists()
    # The service refuses such a member whoever calls it.
    assert services.referral_attach(member=existing, share_id=sent_share.pk) is False


def test_a_newcomer_counts_once_however_often_they_accept(sent_share, sandbox):
    from loyalty.models import EarningRule, PointsEntry, Trigger
    from tests.members.weibo_flow import accept_consent, weibo_login

    EarningRule.objects.create(name="推荐申请", trigger=Trigger.SHARE_REFERRAL_APPLIED, points=10)
    outsider = Client()
    outsider.get(f"/s/{sent_share.token}/")
    weibo_login(outsider, uid="1001000022")
    accept_consent(outsider)
    accept_consent(outsider)
    newcomer = Member.objects.get(weibo_uid="1001000022")
    assert ShareReferral.objects.get().member == newcomer
    assert PointsEntry.objects.filter(account__member=sent_share.member).count() == 1
