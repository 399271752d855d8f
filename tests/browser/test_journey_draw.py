"""In a real browser: members enter a draw, staff run it, a winner claims, another winner
declines and the first member on the waiting list is told live and claims the released unit."""

from __future__ import annotations

import pytest

from community.models import DrawEntry, ItemAllocation
from tests.browser.conftest import open_live, run_off_the_event_loop
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _set_up():
    from datetime import timedelta

    from django.utils import timezone

    from community.participation import services
    from tests.community.test_claims import make_offer

    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=["DRAW-A", "DRAW-B"], slug="draw-journey")
    now = timezone.now()
    services.allocation_configure(
        item=offer, actor=StaffFactory(), mode="draw", hold_hours=24,
        entries_open_at=now - timedelta(minutes=1), entries_close_at=now + timedelta(hours=1),
    )  # fmt: skip
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(4)]
    return offer, members


def test_draw_journey(page_for, asgi_server):
    offer, members = run_off_the_event_loop(_set_up)
    url = f"{asgi_server}{offer.url}"

    # Each member enters on the item page and sees their pseudonymous entry id.
    pages = {}
    for member in members:
        page = page_for(member.user)
        page.goto(url)
        assert page.locator("[data-testid=draw-commitment]").inner_text()
        page.get_by_role("button", name="参加抽签").click()
        shown = page.locator("[data-testid=draw-entry]").inner_text()
        assert DrawEntry.objects.get(member=member).public_id in shown
        pages[member.pk] = page

    # The window closes; staff run the draw from the admin.
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    ItemAllocation.objects.filter(item_id=offer.pk).update(
        entries_open_at=now - timedelta(hours=1), entries_close_at=now - timedelta(seconds=1)
    )
    staff = page_for(StaffFactory(), viewport={"width": 1280, "height": 900})
    staff.goto(f"{asgi_server}/admin/community/participation/offers/{offer.pk}/")
    staff.get_by_role("button", name="立即开奖").click()
    staff.locator(".messages").get_by_text("已开奖").wait_for()

    ranked = list(DrawEntry.objects.order_by("rank").select_related("member"))
    first_winner, second_winner, first_loser, _second_loser = (e.member for e in ranked)

    # The public record shows the seed and the winners; the item page the result.
    record = pages[first_loser.pk]
    record.goto(f"{asgi_server}/community/draws/{offer.pk}/")
    assert ranked[0].public_id in record.locator(".winners").inner_text()
    assert record.locator(".seed").inner_text()

    # The first winner claims their held code.
    winner_page = pages[first_winner.pk]
    winner_page.goto(url)
    assert "恭喜中签" in winner_page.locator("[data-testid=draw-entry]").inner_text()
    assert "已为您保留一份" in winner_page.locator("[data-testid=waitlist-state]").inner_text()
    winner_page.get_by_role("button", name="立即领取").click()
    winner_page.locator("[data-testid=my-codes]").wait_for()
    assert winner_page.locator("[data-testid=my-codes] code").inner_text().startswith("DRAW-")

    # The first loser waits at place 1, with the page open.
    loser_page = pages[first_loser.pk]
    open_live(loser_page, url)
    assert "候补名单第 1 位" in loser_page.locator("[data-testid=waitlist-state]").inner_text()

    # The second winner cannot come and gives the unit back: the loser is told live.
    declining = pages[second_winner.pk]
    declining.goto(url)
    declining.get_by_role("button", name="放弃保留").click()
    declining.get_by_text("已退出候补名单").wait_for()
    loser_page.locator(".toasts").get_by_text(offer.title, exact=False).wait_for()
    assert "候补到您了" in loser_page.locator(".toasts").inner_text()

    loser_page.reload()
    assert "已为您保留一份" in loser_page.locator("[data-testid=waitlist-state]").inner_text()
    loser_page.get_by_role("button", name="立即领取").click()
    loser_page.locator("[data-testid=my-codes]").wait_for()
    assert loser_page.locator("[data-testid=my-codes] code").inner_text().startswith("DRAW-")
