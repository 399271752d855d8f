"""A database connection the server dropped between requests costs the member nothing.

Persistent connections outlive requests. When PostgreSQL ends one while it sits idle (a
restart, a failover, an operator's ``pg_terminate_backend``, an idle timeout), the next request
on that web thread must get a fresh connection, not a 500; a connection that is still good must
be kept, not replaced on every request.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from tests.conftest import database_url_for_current_test_db
from tests.factories import MemberFactory, standard_tiers
from tests.loyalty.conftest import earn

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request_starts() -> None:
    """What the server does when a request starts (the test client skips it)."""
    close_old_connections()


def member_client():
    member = MemberFactory(tier=standard_tiers()["gold"])
    earn(member, 420, timezone.now())
    client = Client(raise_request_exception=False)
    client.force_login(member.user)
    return client


def test_a_connection_the_server_ended_is_replaced_before_the_next_page_uses_it():
    client = member_client()
    next_request_starts()
    assert client.get("/points/").status_code == 200
    dropped = backend_pid()

    killer = psycopg2.connect(database_url_for_current_test_db())
    killer.autocommit = True
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
            assert cursor.fetchone()[0] is True
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the backend is gone once it leaves the list
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [dropped])
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.02)
    finally:
        killer.close()

    next_request_starts()
    response = client.get("/points/")
    assert response.status_code == 200
    assert "420" in response.content.decode()
    assert backend_pid() != dropped


def test_a_good_connection_is_kept_from_one_request_to_the_next():
    client = member_client()
    pids = set()
    for _ in range(3):
        next_request_starts()
        assert client.get("/points/").status_code == 200
        pids.add(backend_pid())
    assert len(pids) == 1
