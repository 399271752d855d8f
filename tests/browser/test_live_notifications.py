"""In a real browser, the unread badge changes when points are awarded from another process."""

from __future__ import annotations

import pytest

from community import demo
from tests.browser.conftest import DESKTOP, PHONE, run_in_another_process, wait_for_text
from tests.factories import MemberFactory, standard_tiers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_badge_and_toast_update_live(page_for, asgi_server, viewport):
    tiers = standard_tiers()
    demo.load_structure()
    member = MemberFactory(tier=tiers["gold"])
    page = page_for(member.user, viewport=viewport)
    page.goto(f"{asgi_server}/community/")
    badge = page.locator("#notification-badge")
    assert badge.is_hidden()
    page.wait_for_timeout(800)  # the socket connects after the page loads

    # Awarded from another process: the event crosses Redis to the web server's socket.
    run_in_another_process(
        "from core.notifications import notify; "
        f"notify(user_id={member.user_id}, kind='points_awarded', title='获得 20 积分', "
        "body='每日签到')"
    )

    assert wait_for_text(page, "#notification-badge", "1")
    assert badge.is_visible()
    assert "获得 20 积分" in page.locator(".toasts").inner_text()


def test_notification_missed_while_offline_is_caught_up(page_for, asgi_server):
    tiers = standard_tiers()
    demo.load_structure()
    member = MemberFactory(tier=tiers["silver"])
    page = page_for(member.user)
    page.goto(f"{asgi_server}/community/")
    page.wait_for_timeout(800)
    page.context.set_offline(True)
    page.evaluate("() => 0")
    run_in_another_process(
        "from core.notifications import notify; "
        f"notify(user_id={member.user_id}, kind='tier_up', title='恭喜升级为金卡')"
    )
    page.context.set_offline(False)
    # After reconnecting, the script asks for what it missed.
    page.reload()
    assert wait_for_text(page, "#notification-badge", "1")
