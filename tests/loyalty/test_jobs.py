"""Scheduled jobs: reconciliation, expiry reminders, the beat schedule, a real worker run."""

from __future__ import annotations

import asyncio
import io

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from core.events import user_group
from loyalty import services
from loyalty.models import ExpiryReminder, PointsEntry
from loyalty.selectors import reconcile
from tests.conftest import wait_until
from tests.factories import MemberFactory
from tests.loyalty.conftest import account, at, earn, make_reward

pytestmark = pytest.mark.django_db


def run_reconcile() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("reconcile_points", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), err.getvalue()
    return 0, out.getvalue()


def test_reconcile_passes_on_real_histories_and_names_every_discrepancy(member, tiers):
    other = MemberFactory(tier=tiers["regular"])
    earn(member, 300, at(2026, 1, 1))
    earn(other, 100, at(2026, 1, 1))
    services.reward_redeem(member=member, reward=make_reward(cost=120), now=at(2026, 2, 1))
    assert run_reconcile() == (0, "OK: 2 accounts reconcile.\n")

    # Corrupt a cached balance, a lot and the tier cache behind the services' back.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE loyalty_pointsaccount SET balance = balance + 7 WHERE member_id = %s",
            [member.pk],
        )
        cursor.execute(
            "UPDATE loyalty_pointslot SET remaining = remaining - 1 WHERE account_id ="
            " (SELECT id FROM loyalty_pointsaccount WHERE member_id = %s)",
            [other.pk],
        )
        cursor.execute("UPDATE loyalty_qualifyingday SET points = points + 5")
    code, report = run_reconcile()
    assert code == 1
    assert f"(member {member.pk}): balance = Σ available entries: expected 180, found 187" in report
    assert f"(member {member.pk}): balance = Σ lot remaining: expected 180, found 187" in report
    assert f"(member {other.pk}): balance = Σ lot remaining: expected 99, found 100" in report
    assert "remaining = amount − Σ consumptions: expected 100, found 99" in report
    assert "(tier cache): expected 300, found 305" in report
    assert "6 discrepancies in 2 accounts." in report


def test_expiry_reminders_are_sent_once_per_expiry_date(member, django_capture_on_commit_callbacks):
    earn(member, 100, at(2026, 1, 10))  # expires 2027-01-11 00:00
    earn(member, 40, at(2026, 1, 10, 18))  # same expiry: one reminder for 140
    earn(member, 60, at(2026, 3, 1))  # later: not yet within 30 days

    def remind(now):
        with django_capture_on_commit_callbacks(execute=True):
            return services.points_expiry_remind(now=now)

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(member.user_id), channel)
        try:
            assert await sync_to_async(remind)(at(2026, 12, 10)) == 0  # 32 days ahead
            assert await sync_to_async(remind)(at(2026, 12, 13)) == 1
            message = await asyncio.wait_for(layer.receive(channel), timeout=5)
            assert await sync_to_async(remind)(at(2026, 12, 14)) == 0  # already told
            return message["payload"]
        finally:
            await layer.group_discard(user_group(member.user_id), channel)

    event = async_to_sync(scenario)()
    assert event["kind"] == "points_expiring" and event["type"] == "notification"
    assert event["body"] == "140 积分将于 2027-01-10 过期"
    assert ExpiryReminder.objects.get().points == 140


def test_the_expiry_calendar_lists_every_upcoming_date(client, member):
    earn(member, 100, timezone.now() - timezone.timedelta(days=300))
    earn(member, 40, timezone.now() - timezone.timedelta(days=200))
    earn(member, 60, timezone.now() - timezone.timedelta(days=100))
    client.force_login(member.user)
    page = client.get("/points/expiry/").content.decode()
    assert page.count('<td class="points">') == 3
    for points in (100, 40, 60):
        assert f'<td class="points">{points}</td>' in page


def test_every_loyalty_beat_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()
    entries = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("loyalty")}
    assert {e["task"] for e in entries.values()} == {
        "loyalty.expire_points", "loyalty.evaluate_tiers", "loyalty.expire_redemptions",
        "loyalty.reconcile", "loyalty.remind_expiring", "loyalty.release_pending",
        "loyalty.sweep_member_events", "loyalty.award_birthdays", "loyalty.warn_tier_at_risk",
        "loyalty.expire_partner_holds",
    }  # fmt: skip
    assert all(entry["task"] in celery_app.tasks for entry in entries.values())


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_nightly_expiry_runs_in_a_real_worker(celery_worker_process, tiers, policy):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 100, timezone.now() - timezone.timedelta(days=400))  # long expired
    earn(member, 30, timezone.now())
    result = celery_app.send_task("loyalty.expire_points")
    assert wait_until(lambda: PointsEntry.objects.filter(kind="expire").exists(), timeout=30)
    assert result.get(timeout=30) == 100
    assert account(member).balance == 30
    assert celery_app.send_task("loyalty.expire_points").get(timeout=30) == 0  # safe twice
    assert celery_app.send_task("loyalty.reconcile").get(timeout=30) == 0
    assert reconcile() == []
