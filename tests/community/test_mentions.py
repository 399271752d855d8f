"""@mentions by unique handle: the Weibo screen name, kept unique and current at login; the
suggestions a member gets while typing "@" in a comment box."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from community import demo
from community.interaction import services
from community.interaction.selectors import MENTION_SUGGESTIONS
from community.interaction.views import MENTION_RATE_LIMIT
from community.models import CommunityHome
from community.models_interaction import CommentMention
from core.models import Notification
from members.handles import normalise_handle
from members.models import Member
from members.services import invitation_batch_create
from tests.community.test_interaction import html_of, publish_item
from tests.factories import MemberFactory, StaffFactory, standard_tiers
from tests.members.weibo_flow import accept_consent, weibo_login

pytestmark = pytest.mark.django_db

UID = "1001000091"  # a Weibo user of this module's own, added to the sandbox


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def gold_post(tiers):
    demo.load_structure()
    return publish_item(CommunityHome.objects.get(), min_tier=tiers["gold"])


def suggest(client, page, q: str):
    return client.get(f"/interaction/items/{page.pk}/mentions/", {"q": q})


# --- handles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, handle",
    [("Rain", "rain"), ("ＲＡＩＮ", "rain"), (" 小雨Rain ", "小雨rain"), ("", None),
     ("有 空格", None)],
)  # fmt: skip
def test_handles_are_normalised_screen_names(name, handle):
    assert normalise_handle(name) == handle


def test_the_database_keeps_handles_unique_whatever_the_case(tiers):
    MemberFactory(weibo_screen_name="Rain")
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(weibo_screen_name="RAIN")


def test_the_latest_weibo_login_wins_a_handle_and_renaming_moves_it(
    client, weibo_sandbox, landing_site, gold_post, tiers
):
    """Someone renamed on Weibo leaves a stale copy of their old name here; the member who now
    holds that name at Weibo signs in and takes the handle; their own rename moves it again."""
    requests.post(
        f"{weibo_sandbox}/_sandbox/users",
        json={"idstr": UID, "screen_name": "小雨Rain", "followers_count": 300,
              "friends_count": 200, "statuses_count": 500, "created_at": "2015-01-01"},
        timeout=5,
    ).raise_for_status()  # fmt: skip
    stale = MemberFactory(
        tier=tiers["gold"], weibo_screen_name="小雨Rain",
        weibo_refreshed_at=timezone.now() - timedelta(days=400),
    )  # fmt: skip
    assert stale.mention_handle == "小雨rain"

    weibo_login(client, uid=UID)
    accept_consent(client)
    code = invitation_batch_create(actor=StaffFactory(), count=1)[0].code
    client.post("/members/join/invitation/", {"code": code})
    rain = Member.objects.get(weibo_uid=UID)
    Member.objects.filter(pk=rain.pk).update(tier=tiers["gold"])
    stale.refresh_from_db()
    assert (rain.state, rain.mention_handle, stale.mention_handle) == ("member", "小雨rain", None)

    author = MemberFactory(tier=tiers["gold"])
    services.comment_create(member=author, page=gold_post, body="@小雨RAIN 一起看秀")
    assert list(CommentMention.objects.values_list("member", flat=True)) == [rain.pk]
    assert not Notification.objects.filter(user=stale.user).exists()

    # Renamed on Weibo: the next login brings the new handle, and the old one names nobody.
    requests.post(
        f"{weibo_sandbox}/_sandbox/users", json={"idstr": UID, "screen_name": "雨天Rain"},
        timeout=5,
    ).raise_for_status()  # fmt: skip
    client.logout()
    weibo_login(client, uid=UID)
    rain.refresh_from_db()
    assert rain.mention_handle == "雨天rain"
    services.comment_create(member=author, page=gold_post, body="@小雨Rain 还在吗")
    assert CommentMention.objects.count() == 1


def test_members_who_leave_give_up_their_handle(tiers):
    from members.services import member_leave

    member = MemberFactory(weibo_screen_name="要走的人")
    member_leave(member=member)
    member.refresh_from_db()
    assert member.mention_handle is None
    MemberFactory(weibo_screen_name="要走的人")  # the name is free for whoever holds it now


# --- suggestions --------------------------------------------------------------------------------


@pytest.fixture
def people(tiers):
    return {
        "gold": MemberFactory(tier=tiers["gold"], weibo_screen_name="Lily金卡", display_name="莉莉",
                              weibo_avatar_url="https://tvax1.sinaimg.cn/lily.jpg"),
        "platinum": MemberFactory(tier=tiers["platinum"], weibo_screen_name="lily白金"),
        "silver": MemberFactory(tier=tiers["silver"], weibo_screen_name="Lily银卡"),
        "suspended": MemberFactory(tier=tiers["gold"], weibo_screen_name="Lily停用",
                                   state=Member.State.SUSPENDED),
        "applicant": MemberFactory(tier=tiers["gold"], weibo_screen_name="Lily申请",
                                   state=Member.State.APPLICANT),
        "other": MemberFactory(tier=tiers["gold"], weibo_screen_name="小王"),
    }  # fmt: skip


def test_suggestions_list_only_members_who_can_read_the_item(client, gold_post, tiers, people):
    me = MemberFactory(tier=tiers["gold"], weibo_screen_name="LilyMe")
    client.force_login(me.user)
    response = suggest(client, gold_post, "LILY")
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]
    results = response.json()["results"]
    assert sorted(r["handle"] for r in results) == ["Lily金卡", "lily白金"]
    assert next(r for r in results if r["handle"] == "Lily金卡") == {
        "handle": "Lily金卡",
        "name": "莉莉",
        "avatar": "https://tvax1.sinaimg.cn/lily.jpg",
    }  # nothing else about the member
    assert suggest(client, gold_post, "").json() == {"results": []}
    assert suggest(client, gold_post, "没有").json() == {"results": []}


def test_suggestions_stop_at_a_few(client, gold_post, tiers):
    for n in range(MENTION_SUGGESTIONS + 4):
        MemberFactory(tier=tiers["gold"], weibo_screen_name=f"粉丝{n:02d}")
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    assert len(suggest(client, gold_post, "粉丝").json()["results"]) == MENTION_SUGGESTIONS


def test_suggestions_are_for_members_who_may_comment_only(client, gold_post, tiers, people):
    assert suggest(Client(), gold_post, "lily").status_code in (302, 403, 404)
    client.force_login(people["silver"].user)  # may not read the gold item in full
    assert suggest(client, gold_post, "lily").status_code in (403, 404)
    client.force_login(people["applicant"].user)
    assert suggest(client, gold_post, "lily").status_code in (403, 404)
    client.force_login(people["suspended"].user)
    assert suggest(client, gold_post, "lily").status_code != 200


def test_suggestions_are_rate_limited_per_member(client, gold_post, tiers, people):
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    for _ in range(MENTION_RATE_LIMIT):
        assert suggest(client, gold_post, "lily").status_code == 200
    response = suggest(client, gold_post, "lily")
    assert response.status_code == 429 and response.json()["error"] == "rate_limited"


def test_the_comment_form_offers_suggestions_and_works_without_them(client, gold_post, tiers):
    friend = MemberFactory(tier=tiers["gold"], weibo_screen_name="好友A")
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    html = html_of(client.get(gold_post.get_url()))
    assert f'data-mention-url="/interaction/items/{gold_post.pk}/mentions/"' in html
    assert "js/mentions" in html
    # Without the script the member types the handle; the mention works all the same.
    html = html_of(client.post(f"/interaction/items/{gold_post.pk}/comments/",
                               {"body": "@好友A 快看"}, follow=True))  # fmt: skip
    assert ">@好友A</a> 快看" in html
    assert Notification.objects.filter(user=friend.user, kind="comment_mention").count() == 1
