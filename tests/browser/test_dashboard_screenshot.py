"""Screenshots of the staff dashboard for the docs, taken in a real browser.

Writes ``docs/screenshots/dashboard*.png`` only when ``UPDATE_SCREENSHOTS=1``:

    UPDATE_SCREENSHOTS=1 ./test tests/browser/test_dashboard_screenshot.py
"""

from __future__ import annotations

import io
import os
import random
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import BASE_DIR

SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
MAX_BYTES = 300_000

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("UPDATE_SCREENSHOTS") != "1",
        reason="writes docs/screenshots/dashboard*.png only when UPDATE_SCREENSHOTS=1",
    ),
]


def _at(day, rng: random.Random) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(rng.randint(8, 22), rng.randint(0, 59))))


def build_club(seed: int = 7) -> None:
    """Four months of a small club: joins, tiers, visits, comments, shares, points, rewards."""
    from community import demo
    from community.models import CommunityHome, PostPage
    from community.models_interaction import Comment, CommentReport, ItemLike
    from core.models import DailyActiveMember
    from core.reports.services import report_days_fill
    from loyalty.models import PointsAccount, PointsEntry, Redemption, Reward, TierChange
    from members.models import Application, Member
    from share.models import Share, ShareReferral, ShareVisit
    from tests.factories import UserFactory, standard_tiers

    rng = random.Random(seed)
    tiers = standard_tiers()
    demo.load_structure()
    home = CommunityHome.objects.get()
    posts = []
    for index in range(3):
        post = PostPage(title=f"新品预览 {index + 1}", slug=f"preview-{index}", summary="摘要",
                        access="members", body=[])  # fmt: skip
        home.add_child(instance=post)
        posts.append(post)
    today = timezone.localdate()
    ladder = [tiers["regular"], tiers["silver"], tiers["gold"], tiers["platinum"]]

    members = []
    for index in range(420):
        days_ago = int(rng.triangular(0, 130, 30))
        start_tier = rng.choices(ladder, weights=[60, 25, 11, 4])[0]
        member = Member.objects.create(
            user=UserFactory(), state=Member.State.MEMBER, tier=start_tier,
            display_name=f"会员{index}", joined_at=_at(today - timedelta(days=days_ago), rng),
            weibo_followers=int(rng.paretovariate(1.2) * 300),
        )  # fmt: skip
        members.append(member)
    accounts = {m.pk: PointsAccount.objects.create(member=m) for m in members}
    for member in rng.sample(members, 70):
        rank = ladder.index(member.tier)
        if rank == 3:
            continue
        joined = timezone.localdate(member.joined_at)
        when = joined + timedelta(days=rng.randint(1, max(1, (today - joined).days)))
        TierChange.objects.create(
            account=accounts[member.pk], kind="upgrade", from_tier=member.tier,
            to_tier=ladder[rank + 1], measured_points=3000, created_at=_at(when, rng),
        )  # fmt: skip
        Member.objects.filter(pk=member.pk).update(tier=ladder[rank + 1])

    daily = []
    for days_ago in range(100):
        day = today - timedelta(days=days_ago)
        joined = [m for m in members if timezone.localdate(m.joined_at) <= day]
        share = 0.28 + 0.06 * (day.weekday() >= 5) - 0.001 * days_ago
        for member in rng.sample(joined, int(len(joined) * share)):
            daily.append(DailyActiveMember(day=day, member=member))
    DailyActiveMember.objects.bulk_create(daily)

    for _ in range(700):
        member = rng.choice(members)
        comment = Comment.objects.create(page=rng.choice(posts), member=member, body="很喜欢")
        when = _at(today - timedelta(days=rng.randint(0, 95)), rng)
        Comment.objects.filter(pk=comment.pk).update(created_at=when)
    now = timezone.now()
    for hours in (0.3, 0.8, 2, 3, 5, 9, 20, 30, 50, 80, 200):
        held = Comment.objects.create(page=posts[0], member=rng.choice(members), body="待审",
                                      state="held")  # fmt: skip
        Comment.objects.filter(pk=held.pk).update(created_at=now - timedelta(hours=hours))
    for hours in (1.5, 7, 26, 100):
        target = Comment.objects.filter(state="published").order_by("?").first()
        report = CommentReport.objects.create(comment=target, reporter=rng.choice(members),
                                              reason="spam")  # fmt: skip
        CommentReport.objects.filter(pk=report.pk).update(created_at=now - timedelta(hours=hours))
    for post in posts:
        for member in rng.sample(members, 90):
            like = ItemLike.objects.create(page=post, member=member)
            when = _at(today - timedelta(days=rng.randint(0, 95)), rng)
            ItemLike.objects.filter(pk=like.pk).update(created_at=when)

    codes = [20019, 20019, 21327, 10023, 20021, 10001]
    for number in range(240):
        member = rng.choice(members)
        created = _at(today - timedelta(days=rng.randint(0, 95)), rng)
        state = rng.choices(["sent", "failed", "needs_reauth"], weights=[86, 9, 5])[0]
        share = Share.objects.create(
            member=member, kind="item", subject_key=f"item:{number}", subject_title="新品预览",
            text="一起来看看", token=f"shot{number}", link=f"https://club.example.com/s/{number}",
            rip="127.0.0.1", confirmation_key=f"shot-confirm-{number}",
            followers_at_share=member.weibo_followers, state=state,
            sent_at=created if state == "sent" else None, created_at=created,
            last_error_code=None if state == "sent" else rng.choice(codes),
        )  # fmt: skip
        if state != "sent":
            continue
        first_day = timezone.localdate(created)
        visits = {
            (f"v{rng.randint(0, 60)}", min(first_day + timedelta(days=rng.randint(0, 3)), today))
            for _ in range(rng.randint(0, 14))
        }
        ShareVisit.objects.bulk_create(
            [ShareVisit(share=share, visitor=v, day=d) for v, d in visits]
        )
        if rng.random() < 0.12:
            applicant = Member.objects.create(user=UserFactory(), state=Member.State.APPLICANT,
                                              display_name=f"访客{number}")  # fmt: skip
            applied = created + timedelta(hours=rng.randint(1, 48))
            admitted = applied + timedelta(days=1) if rng.random() < 0.6 else None
            ShareReferral.objects.create(share=share, member=applicant, applied_at=applied,
                                         admitted_at=admitted)  # fmt: skip
            application = Application.objects.create(member=applicant, message="想加入")
            Application.objects.filter(pk=application.pk).update(submitted_at=applied)

    rewards = [Reward.objects.create(name=name, cost=cost, fulfilment="donation")
               for name, cost in [("限定帆布袋", 800), ("新品体验装", 1500), ("品牌马克杯", 1200),
                                  ("线下活动名额", 3000)]]  # fmt: skip
    entries, serial = [], 0
    for member in members:
        account = accounts[member.pk]
        balance = 0
        joined = timezone.localdate(member.joined_at)
        day = joined
        while day <= today:
            serial += 1
            earn = rng.choice([50, 100, 200, 300])
            balance += earn
            entries.append(PointsEntry(
                account=account, amount=earn, bucket="available", kind="earn", reason="活动",
                idempotency_key=f"shot:{serial}", balance_after=balance,
                created_at=_at(day, rng),
            ))  # fmt: skip
            if balance > 600 and rng.random() < 0.3:
                serial += 1
                spent = rng.choice([400, 500, 600])
                balance -= spent
                entries.append(PointsEntry(
                    account=account, amount=-spent, bucket="available", kind="redeem",
                    reason="兑换", idempotency_key=f"shot:{serial}", balance_after=balance,
                    created_at=_at(day, rng),
                ))  # fmt: skip
                Redemption.objects.create(account=account, reward=rng.choice(rewards),
                                          cost=spent, created_at=_at(day, rng))  # fmt: skip
            elif balance > 300 and rng.random() < 0.08:
                serial += 1
                balance -= 100
                entries.append(PointsEntry(
                    account=account, amount=-100, bucket="available", kind="expire",
                    reason="过期", idempotency_key=f"shot:{serial}", balance_after=balance,
                    created_at=_at(day, rng),
                ))  # fmt: skip
            day += timedelta(days=rng.randint(6, 20))
        PointsAccount.objects.filter(pk=account.pk).update(balance=balance)
    PointsEntry.objects.bulk_create(entries, batch_size=2000)
    report_days_fill()


def save_png(png: bytes, name: str) -> int:
    """Store a screenshot as a 256-colour PNG (charts have few colours; keeps the repo small)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    small.save(path, optimize=True)
    return path.stat().st_size


def full_page(page) -> bytes:
    """The whole page: the admin scrolls inside its main column, so grow the window to fit."""
    height = page.evaluate(
        "() => Math.max(...[document.documentElement, document.body,"
        " document.querySelector('main')].map((e) => e.scrollHeight))"
    )
    page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
    page.wait_for_timeout(300)
    return page.screenshot(full_page=True)


def test_dashboard_screenshots(page_for, asgi_server):
    from tests.factories import StaffFactory

    build_club()
    admin = StaffFactory(username="运营总监")

    page = page_for(admin, viewport=DESKTOP)
    page.goto(f"{asgi_server}/admin/reports/?days=90")
    assert page.locator("svg.report-chart--wide").count() >= 8
    assert page.locator("svg.report-chart--wide").first.is_visible()
    assert not page.locator("svg.report-chart--narrow").first.is_visible()
    assert save_png(full_page(page), "dashboard.png") < MAX_BYTES

    page.set_viewport_size(DESKTOP)
    page.goto(f"{asgi_server}/admin/")
    panel = page.locator('[data-testid="dashboard-panel"]')
    assert panel.locator("svg.report-sparkline").count() == 4
    panel.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    assert save_png(page.screenshot(), "dashboard-home.png") < MAX_BYTES

    phone = page_for(admin, viewport=PHONE)
    phone.goto(f"{asgi_server}/admin/reports/active/?days=30")
    assert phone.locator("svg.report-chart--narrow").is_visible()
    assert not phone.locator("svg.report-chart--wide").is_visible()
    assert save_png(full_page(phone), "dashboard-phone.png") < MAX_BYTES
