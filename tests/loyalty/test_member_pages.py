"""Member pages under /points/: who may see them, what they show, and flat query counts."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file

from loyalty import services
from loyalty.models import EarningRule, PendingAward, Redemption
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, UserFactory
from tests.loyalty.conftest import account, earn, make_reward

pytestmark = pytest.mark.django_db

PAGES = ["/points/", "/points/history/", "/points/expiry/", "/points/rewards/",
         "/points/redemptions/"]  # fmt: skip


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def signed_in(client, member):
    client.force_login(member.user)
    return member


@pytest.mark.parametrize("path", PAGES)
def test_outsiders_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/members/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_applicants_are_sent_to_the_join_page(client, tiers, path):
    applicant = MemberFactory(state=Member.State.APPLICANT, joined_at=None)
    client.force_login(applicant.user)
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, "/members/join/")


@pytest.mark.parametrize(
    "who",
    ["suspended", "left", "staff", "no_member"],
)
def test_everyone_else_is_routed_by_the_welcome_page(client, tiers, who):
    if who == "staff":
        user = StaffFactory()
    elif who == "no_member":
        user = UserFactory()
    else:
        user = MemberFactory(state=who).user
    client.force_login(user)
    for path in PAGES:
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/members/welcome/")


def test_refused_viewers_cannot_post_either(client, member):
    EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    reward = make_reward(cost=1)
    applicant = MemberFactory(state=Member.State.APPLICANT, joined_at=None)
    client.force_login(applicant.user)
    assert client.post("/points/checkin/").status_code == 302
    assert client.post(f"/points/rewards/{reward.pk}/redeem/").status_code == 302
    client.logout()
    assert client.post("/points/checkin/").status_code == 302
    assert not Redemption.objects.exists()
    assert not account_exists(applicant)


def account_exists(member) -> bool:
    from loyalty.models import PointsAccount

    return PointsAccount.objects.filter(member=member).exists()


def test_a_new_member_sees_empty_pages(client, signed_in):
    for path in PAGES:
        html(client.get(path))


def test_overview_shows_balance_pending_expiry_and_the_tier_rule(client, signed_in, tiers):
    now = timezone.now()
    earn(signed_in, 600, now - timezone.timedelta(days=340))  # expires within 30 days
    earn(signed_in, 200, now)
    EarningRule.objects.create(name="分享到微博", trigger="share_verified", points=50,
                               pending_days=3)  # fmt: skip
    services.points_award_for_event(member=signed_in, trigger="share_verified",
                                    natural_key="share:9")  # fmt: skip
    page = html(client.get("/points/"))
    assert re.search(r'data-testid="available"><strong>800<', page)
    assert re.search(r'data-testid="pending"><strong>50<', page)
    assert re.search(r'data-testid="expiring"><strong>600<', page)
    assert "近 12 个月获得积分：<strong>800</strong>" in page
    assert "再获得 <strong>200</strong> 积分升级为银卡" in page
    assert "下次评估日" in page
    assert "分享到微博" in page and PendingAward.objects.count() == 1


def test_tier_card_says_what_the_member_keeps_at_the_next_evaluation(client, signed_in, tiers):
    now = timezone.now()
    earn(signed_in, 3000, now - timezone.timedelta(days=100))  # the account opens that day
    earn(signed_in, 2000, now - timezone.timedelta(days=50))  # 5000: gold
    page = html(client.get("/points/"))
    evaluation = account(signed_in).tier_evaluation_on
    assert f"下次评估日：{evaluation:%Y-%m-%d}" in page
    # Of the two earns only the later one is inside the 12 months ending on that date.
    assert "其中已获得 2000 积分" in page
    assert "在评估日前再获得 2500 积分即可保留金卡（保级线 4500）" in page
    assert "评估后等级将调整为银卡" in page
    assert "升级保护期" not in page  # it ends long before the evaluation


def test_daily_checkin_button(client, signed_in):
    EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    assert "每日签到" in html(client.get("/points/"))
    response = client.post("/points/checkin/", follow=True)
    assert "签到成功，获得 10 积分" in html(response)
    assert "今天已签到" in html(client.get("/points/"))
    assert "今天已经签到过了" in html(client.post("/points/checkin/", follow=True))
    assert account(signed_in).balance == 10


def test_history_filters_and_keyset_pages(client, signed_in):
    start = timezone.now() - timezone.timedelta(days=50)
    for day in range(45):
        earn(signed_in, 10, start + timezone.timedelta(days=day), key=f"h{day}")
    services.points_spend(member=signed_in, amount=30, reason="兑换咖啡", idempotency_key="x")
    seen: list[str] = []
    url = "/points/history/"
    pages = 0
    while url:
        page = html(client.get(url))
        pages += 1
        seen += re.findall(r"<li>\s*<span>([^<]+)<br>", page)
        following = re.search(r'href="\?([^"]+)" rel="next"', page)
        url = f"/points/history/?{following.group(1).replace('&amp;', '&')}" if following else ""
    assert pages == 3 and len(seen) == 46  # 45 earns + 1 spend, 20 per page, no repeats
    only_spends = html(client.get("/points/history/?kind=redeem"))
    assert "兑换咖啡" in only_spends and "奖励 10" not in only_spends


def test_rewards_catalogue_says_why_not(client, signed_in, tiers):
    earn(signed_in, 500, timezone.now())
    make_reward(name="公益捐书", cost=100)
    make_reward(name="金卡下午茶", cost=100, min_tier=tiers["gold"])
    make_reward(name="大礼包", cost=900)
    make_reward(name="已下架", cost=1, live=False)
    page = html(client.get("/points/rewards/"))
    redeemable, _sep, locked = page.partition('data-testid="not-redeemable"')
    assert "公益捐书" in redeemable and "金卡下午茶" not in redeemable
    assert "仅限金卡及以上会员兑换" in locked
    assert "可用积分不足：需要 900 积分，您有 500 积分" in locked
    assert "已下架" not in page


def test_redeeming_from_the_page_shows_the_code(client, signed_in):
    earn(signed_in, 500, timezone.now())
    reward = make_reward(name="咖啡券", cost=300, fulfilment="coupon")
    services.coupon_codes_add(reward=reward, codes=["CAFE-0001"], actor=None)
    detail = html(client.get(f"/points/rewards/{reward.pk}/"))
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', detail).group(1)
    url = f"/points/rewards/{reward.pk}/redeem/"
    response = client.post(url, {"idempotency_key": key}, follow=True)
    assert "兑换成功！您的券码是 CAFE-0001" in html(response)
    client.post(url, {"idempotency_key": key})  # a double-submitted form
    assert account(signed_in).balance == 200
    assert "CAFE-0001" in html(client.get("/points/redemptions/"))


def test_redeem_endpoint_answers_json_with_clear_errors(client, signed_in):
    earn(signed_in, 100, timezone.now())
    reward = make_reward(cost=300)
    response = client.post(f"/points/rewards/{reward.pk}/redeem/", HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert response.json() == {
        "error": "insufficient_points",
        "message": "可用积分不足：需要 300 积分，您有 100 积分。",
    }
    physical = make_reward(cost=50, fulfilment="physical")
    response = client.post(f"/points/rewards/{physical.pk}/redeem/",
                           HTTP_ACCEPT="application/json")  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, "shipping_required")
    response = client.post(
        f"/points/rewards/{physical.pk}/redeem/",
        {"shipping_name": "李", "shipping_phone": "139", "shipping_address": "北京"},
        HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY="k-1",
    )  # fmt: skip
    assert (response.status_code, response.json()["state"]) == (201, "requested")
    assert account(signed_in).balance == 50


def _fill(member, *, earns: int, redemptions: int, rewards: int, image) -> None:
    now = timezone.now()
    for n in range(earns):
        earn(member, 50, now - timezone.timedelta(days=n), key=f"q{member.pk}-{n}")
    for n in range(rewards):
        make_reward(name=f"礼品{member.pk}-{n}", cost=10, image=image if n == 0 else None)
    reward = make_reward(name=f"常用{member.pk}", cost=10)
    for _ in range(redemptions):
        services.reward_redeem(member=member, reward=reward)


def test_query_counts_do_not_grow_with_history(client, tiers, policy, settings):
    settings.PAGE_CACHE_ENABLED = False  # every page rendered (kept copies: test_points_page_cache)
    image = Image.objects.create(title="礼品", file=get_test_image_file())
    small, large = MemberFactory(tier=tiers["regular"]), MemberFactory(tier=tiers["regular"])
    _fill(small, earns=3, redemptions=2, rewards=1, image=image)
    counts = {}
    for label, member in (("small", small), ("large", large)):
        if label == "large":
            _fill(large, earns=60, redemptions=25, rewards=6, image=image)
        client.force_login(member.user)
        counts[label] = []
        for path in PAGES:
            html(client.get(path))  # warm caches (renditions, settings) once
            with CaptureQueriesContext(connection) as queries:
                html(client.get(path))
            counts[label].append(len(queries))
    assert counts["small"] == counts["large"], counts


def test_reward_pictures_are_shown_to_members_and_outsiders_until_taken_off_the_shelf(
    client, signed_in
):
    image = Image.objects.create(title="香氛礼盒", file=get_test_image_file())
    reward = make_reward(name="香氛礼盒", image=image)
    src = reverse("community:image", args=[image.pk, "fill-480x320"])
    assert f'src="{src}"' in html(client.get("/points/rewards/"))
    assert f'src="{src}"' in html(client.get(f"/points/rewards/{reward.pk}/"))

    picture = client.get(src)
    assert picture.status_code == 200
    assert picture["Content-Type"].startswith("image/")
    # A shared reward's landing page is public, and so is the picture of a reward on show.
    assert Client().get(src).status_code == 200

    reward.live = False
    reward.save()
    assert client.get(src).status_code == 404
    assert Client().get(src).status_code == 404
    staff = Client()
    staff.force_login(StaffFactory())
    assert staff.get(src).status_code == 200
