"""Dates a member reads follow the language they chose, not a format spelled out in Chinese."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime

from tests.community.test_claims import claim, make_offer
from tests.community.test_registrations import make_activity, register
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 9, 5, 20, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
FULL = {"zh-hans": "2026年9月5日 20:45", "en": "5 Sep 2026, 20:45"}
DAY_AND_TIME = {"zh-hans": "9月5日 20:45", "en": "5 Sep 20:45"}


def kind(model_name: str) -> SimpleNamespace:
    return SimpleNamespace(model_name=model_name, get_verbose_name=lambda: model_name)


def render(template: str, language: str, **context) -> str:
    with translation.override(language):
        return render_to_string(template, context)


GOLD = SimpleNamespace(name="金卡")
EARLY = SimpleNamespace(opens_at=WHEN, required_tier=GOLD)
OFFER = SimpleNamespace(
    pk=1, valid_from=WHEN, valid_until=WHEN, per_member_limit=0, points_price=0, terms=""
)
PAGE = SimpleNamespace(title="T", summary="", url="/x/", cover_image=None, place="",
                       valid_until=WHEN, starts_at=WHEN, points_price=0,
                       specific_class=kind("offerpage"))  # fmt: skip
ACTIVITY_PAGE = SimpleNamespace(**{**vars(PAGE), "specific_class": kind("activitypage")})

PARTIALS = {
    "community/_card.html": (
        {"entry": SimpleNamespace(page=PAGE, locked=True, decision=EARLY)},
        {"zh-hans": "金卡会员抢先看，9月5日 20:45 向您开放",
         "en": "Early access for 金卡 members; open to you from 5 Sep 20:45"},
    ),
    "community/_item_article.html": (
        {"page": PAGE, "blocks": [], "locked": True, "decision": EARLY, "viewer": None},
        {"zh-hans": "2026年9月5日 20:45 起向您的等级开放。",
         "en": "Open to your tier from 5 Sep 2026, 20:45."},
    ),
    "community/_item_facts.html": ({"page": ACTIVITY_PAGE}, FULL),
    "community/_claim.html": (
        {"offer_panel": SimpleNamespace(offer=OFFER, remaining=1, total=2, claims=[],
                                        can_claim=False, reason="")},
        {"zh-hans": "开始领取：2026年9月5日 20:45", "en": "Claims open：5 Sep 2026, 20:45"},
    ),
    "community/_registration.html": (
        {"activity_panel": SimpleNamespace(
            activity=SimpleNamespace(pk=1, starts_at=WHEN, place=""), free=1, capacity=2,
            waitlist=0, deadline=WHEN, registration=None, can_register=False, reason="")},
        FULL,
    ),
}  # fmt: skip


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("template", sorted(PARTIALS))
def test_item_dates_are_written_the_way_the_reader_language_writes_them(template, language):
    context, expected = PARTIALS[template]
    html = render(template, language, **context)
    assert expected[language] in html
    if language == "en":
        assert "年" not in html and "月" not in html


def test_the_offer_facts_give_the_claim_deadline_in_the_reader_language():
    for language, text in FULL.items():
        assert text in render("community/_item_facts.html", language, page=PAGE)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_my_offers_and_my_activities_give_dates_in_the_reader_language(client, language):
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    register(make_activity(starts_at=WHEN), member)
    claimed = claim(make_offer(codes=1), member)
    client.force_login(member.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    activities = client.get("/community/my/activities/").content.decode()
    assert FULL[language] in activities
    offers = client.get("/community/my/offers/").content.decode()
    with translation.override(language):
        when = date_format(localtime(claimed.created_at), "DATETIME_FORMAT")
    assert when in offers
    assert ("年" in when) is (language == "zh-hans")
