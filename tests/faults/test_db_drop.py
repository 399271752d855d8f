"""PostgreSQL drops the connection in the middle of a redemption: an error page, nothing charged.

The redemption runs as a real request in its own thread (its own database connection). A second
connection holds a row lock on the reward's only coupon code, so the request stops exactly at
the end of its transaction: the ledger entry, the lot consumption, the redemption row and the
stock change are already written (uncommitted) when it waits. A third connection then
terminates the request's backend, as a database failover or an operator would. The member must
see our 500 page (no traceback), and the database must show no trace of the redemption.
"""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from loyalty.models import CouponCode, PointsAccount, PointsEntry, PointsLot, Redemption, Reward
from loyalty.services import coupon_codes_add
from tests.conftest import database_url_for_current_test_db
from tests.factories import MemberFactory, StaffFactory, standard_tiers
from tests.loyalty.conftest import earn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def state(member, reward) -> tuple:
    return (
        PointsAccount.objects.get(member=member).balance,
        PointsEntry.objects.count(),
        list(PointsLot.objects.order_by("pk").values_list("remaining", flat=True)),
        Redemption.objects.count(),
        Reward.objects.get(pk=reward.pk).issued,
        CouponCode.objects.filter(redemption__isnull=False).count(),
    )


def waiting_backend(watcher, timeout: float = 20) -> int:
    """The pid of the backend that waits for our lock on the reward's stock row."""
    deadline = time.monotonic() + timeout
    with watcher.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%loyalty_reward%%'"
            )
            row = cursor.fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    raise AssertionError("the redemption never reached the stock lock")


def redeem_in_thread(client: Client, url: str, data: dict) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["response"] = client.post(url, data)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_connection_killed_mid_redemption_shows_error_page_and_charges_nothing():
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    earn(member, 1000, timezone.now())
    reward = Reward.objects.create(name="电子券", cost=300, fulfilment=Reward.Fulfilment.COUPON)
    coupon_codes_add(reward=reward, codes=["ONLY-ONE"], actor=StaffFactory())
    before = state(member, reward)
    client = Client(raise_request_exception=False)
    client.force_login(member.user)
    url = f"/points/rewards/{reward.pk}/redeem/"

    dsn = database_url_for_current_test_db()
    locker, watcher = psycopg2.connect(dsn), psycopg2.connect(dsn)
    watcher.autocommit = True
    try:
        # The reward's stock is reserved last, after the charge is written: hold its row so the
        # redemption waits there, with everything else done, when its connection is killed.
        with locker.cursor() as cursor:
            cursor.execute("SELECT id FROM loyalty_reward WHERE id = %s FOR UPDATE", [reward.pk])
        thread, outcome = redeem_in_thread(client, url, {"idempotency_key": "drop-1"})
        pid = waiting_backend(watcher)
        with watcher.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0] is True
        locker.rollback()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        locker.close()
        watcher.close()

    response = outcome["response"]
    assert response.status_code == 500
    html = response.content.decode()
    assert "服务暂时不可用" in html and "没有扣除任何积分" in html
    assert "Traceback" not in html and "OperationalError" not in html
    assert state(member, reward) == before

    # The site recovers on the next request: a fresh connection, and the same key now works.
    retry = client.post(url, {"idempotency_key": "drop-1"}, follow=True)
    assert retry.status_code == 200
    assert "ONLY-ONE" in retry.content.decode()
    assert PointsAccount.objects.get(member=member).balance == before[0] - 300
