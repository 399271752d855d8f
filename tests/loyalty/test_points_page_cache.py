"""The points page is kept per member and browser, and never shown after what it shows changed.

A member opens 我的积分 many times a day; the page is theirs alone from top to bottom, so it is
kept in Redis under a key that names its row versions (``core.pagecache.personal_page``). What
a member must see at once: a new balance, a new tier, a new notification, a message after an
action, and never another member's page.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import notifications
from loyalty import services
from loyalty.models import EarningRule
from tests.factories import MemberFactory
from tests.loyalty.conftest import earn

pytestmark = pytest.mark.django_db


def balance_shown(response) -> int:
    """The available balance as the page prints it (the first big figure)."""
    assert response.status_code == 200, response.status_code
    text = response.content.decode()
    found = re.search(r'data-testid="available"><strong>(\d+)</strong>', text)
    assert found, text[:2000]
    return int(found.group(1).replace(",", ""))


@pytest.fixture
def signed_in(client, member):
    client.force_login(member.user)
    return member


def test_a_second_visit_is_served_from_the_kept_copy_privately(client, signed_in):
    earn(signed_in, 120, timezone.now())
    client.get("/points/")  # the browser receives its CSRF cookie
    first = client.get("/points/")
    second = client.get("/points/")
    assert first.get("X-Page-Cache") is None
    assert second["X-Page-Cache"] == "hit"
    assert balance_shown(second) == balance_shown(first) == 120
    assert second["Cache-Control"].startswith("private")
    assert "Cookie" in second["Vary"]


def test_a_browser_without_its_csrf_cookie_never_gets_a_copy(client, signed_in):
    for _visit in range(3):
        client.cookies.pop("csrftoken", None)
        response = client.get("/points/")
        assert response.get("X-Page-Cache") is None
        assert "csrftoken" in response.cookies


def test_a_kept_page_costs_no_query_beyond_signing_in(client, signed_in):
    """The account's version is read in the sign-in statement itself."""
    client.get("/points/")
    client.get("/points/")
    with CaptureQueriesContext(connection) as kept:
        assert client.get("/points/")["X-Page-Cache"] == "hit"
    with CaptureQueriesContext(connection) as robots:
        client.get("/robots.txt")
    assert len(kept) == len(robots) == 1, [q["sql"] for q in kept]


def test_new_points_show_at_once(client, signed_in):
    earn(signed_in, 100, timezone.now())
    assert balance_shown(client.get("/points/")) == 100
    assert balance_shown(client.get("/points/")) == 100
    assert client.get("/points/")["X-Page-Cache"] == "hit"
    earn(signed_in, 50, timezone.now() + timedelta(seconds=1), key="second")
    after = client.get("/points/")
    assert after.get("X-Page-Cache") is None
    assert balance_shown(after) == 150


def test_a_tier_change_shows_at_once(client, signed_in, tiers, django_user_model):
    client.get("/points/")
    client.get("/points/")
    gold_badge = f'class="tier-badge" data-tier="{tiers["gold"].code}"'
    assert client.get("/points/")["X-Page-Cache"] == "hit"
    assert gold_badge not in client.get("/points/").content.decode()
    staff = django_user_model.objects.create(username="ops", is_staff=True)
    services.tier_set_manual(
        member=signed_in, tier=tiers["gold"], until=timezone.localdate() + timedelta(days=30),
        reason="VIP 活动", actor=staff,
    )  # fmt: skip
    assert gold_badge in client.get("/points/").content.decode()


def test_a_new_notification_updates_the_badge_at_once(client, signed_in):
    client.get("/points/")
    client.get("/points/")
    assert client.get("/points/")["X-Page-Cache"] == "hit"
    notifications.notify(user_id=signed_in.user_id, kind="points", title="积分到账")
    page = client.get("/points/")
    assert page.get("X-Page-Cache") is None
    assert re.search(r'id="notification-badge"[^>]*data-count="1"', page.content.decode())


def test_each_member_sees_only_their_own_page(client, signed_in, tiers):
    earn(signed_in, 300, timezone.now())
    client.get("/points/")
    other = MemberFactory(tier=tiers["regular"])
    earn(other, 7, timezone.now())
    theirs = Client()
    theirs.force_login(other.user)
    assert balance_shown(theirs.get("/points/")) == 7
    assert balance_shown(client.get("/points/")) == 300


def test_the_message_after_an_action_is_never_lost_to_a_copy(client, signed_in):
    EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    client.get("/points/")
    response = client.post("/points/checkin/", follow=True)
    assert "签到成功" in response.content.decode()
    assert balance_shown(response) == 10


def test_a_second_browser_of_the_same_member_gets_forms_that_work(signed_in):
    """The page's forms carry a CSRF token masked from the browser's own cookie: a copy kept
    for one phone must not go to the member's other phone."""
    EarningRule.objects.create(name="签到", trigger="daily_checkin", points=10)
    phone = Client(enforce_csrf_checks=True)
    phone.force_login(signed_in.user)
    phone.get("/points/")
    phone.get("/points/")
    tablet = Client(enforce_csrf_checks=True)
    tablet.force_login(signed_in.user)
    page = tablet.get("/points/").content.decode()
    page = tablet.get("/points/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = tablet.post("/points/checkin/", {"csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200
    assert "签到成功" in response.content.decode()


def test_no_copy_when_the_cache_is_switched_off(client, signed_in, settings):
    settings.PAGE_CACHE_ENABLED = False
    client.get("/points/")
    client.get("/points/")
    assert client.get("/points/").get("X-Page-Cache") is None
