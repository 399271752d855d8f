"""The installed app offline: the service worker answers with the offline page, and after a
member browsed their card and the community, its cache holds nothing but the offline page and
static files.

The worker needs a secure context: the browser goes to the server's loopback address here
(``asgi_server``), which browsers treat as one, as production's HTTPS is.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from community.models import ActivityPage
from members.models import Member
from tests.browser.conftest import load_club, run_off_the_event_loop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOLD_UID = "1001000012"

CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
}"""


def test_offline_the_app_shows_the_offline_page_and_kept_no_member_page(
    page_for, asgi_server, transactional_db
):
    load_club()
    member = Member.objects.select_related("user").get(weibo_uid=GOLD_UID)
    activity = ActivityPage.objects.get(slug="milan-trip")

    def register():
        from community.participation import services

        services.activity_register(activity=activity, member=member)

    run_off_the_event_loop(register)
    ActivityPage.objects.filter(pk=activity.pk).update(
        starts_at=timezone.now(), ends_at=timezone.now() + timedelta(hours=2)
    )
    page = page_for(member.user)
    page.goto(f"{asgi_server}/members/card/")
    expect(page.get_by_test_id("checkin-qr")).to_be_visible()
    assert page.evaluate("navigator.serviceWorker.ready.then((registration) => !!registration)")
    page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    for path in ("/members/card/", "/community/", activity.url, "/points/", "/members/me/"):
        page.goto(f"{asgi_server}{path}")
    page.goto(f"{asgi_server}/members/card/")
    page.wait_for_timeout(500)  # static files are kept asynchronously

    cached = page.evaluate(CACHED_URLS)
    assert "/offline/" in cached
    for path in cached:
        assert path == "/offline/" or path.startswith(settings.STATIC_URL), path

    page.context.set_offline(True)
    page.goto(f"{asgi_server}/members/card/")
    expect(page.get_by_test_id("offline-page")).to_contain_text("网络未连接")
    assert member.weibo_screen_name not in page.content()
    assert str(member) not in page.content()
