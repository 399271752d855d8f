"""Sessions live with the user they name and are read with that user in one statement.

What a member notices: they stay signed in (also across the move from Django's own session
store), and whatever changes about them (tier, suspension, password, being switched off) shows
on their very next request, because the user is read fresh with every session read.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from members.models import Member, MemberSession, Tier
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(tier: str = "gold") -> tuple[Member, Client]:
    member = MemberFactory(tier=standard_tiers()[tier])
    client = Client()
    client.force_login(member.user)
    return member, client


def test_the_session_row_names_its_user_and_one_statement_reads_both():
    member, client = signed_in()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert MemberSession.objects.get(session_key=key).user_id == member.user_id
    client.get("/robots.txt")  # once a day a member's first request notes them active
    with CaptureQueriesContext(connection) as statements:
        assert client.get("/robots.txt").status_code == 200
    [executed] = [query["sql"] for query in statements.captured_queries]
    name = executed.split()[1].split("(")[0]  # EXECUTE club_prepared_N(...)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        [statement] = cursor.fetchone()
    for table in ("members_membersession", "auth_user", "members_member", "members_tier"):
        assert table in statement
    assert "金卡" in client.get("/points/").content.decode()


def test_a_tier_change_and_a_suspension_show_on_the_next_request():
    member, client = signed_in("silver")
    assert "银卡" in client.get("/points/").content.decode()
    Member.objects.filter(pk=member.pk).update(tier=standard_tiers()["platinum"])
    assert "白金卡" in client.get("/points/").content.decode()
    Member.objects.filter(pk=member.pk).update(state=Member.State.SUSPENDED)
    assert client.get("/points/").status_code in (302, 403)


def test_a_password_change_or_a_switched_off_login_signs_the_session_out():
    member, client = signed_in()
    member.user.set_password("a new secret 2026")
    member.user.save()
    response = client.get("/points/")
    assert response.status_code == 302 and "login" in response["Location"]

    other, other_client = signed_in()
    type(other.user).objects.filter(pk=other.user_id).update(is_active=False)
    response = other_client.get("/points/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_signing_out_and_in_again_writes_the_user_on_the_new_session_row():
    member, client = signed_in()
    old = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/accounts/logout/")
    assert not MemberSession.objects.filter(session_key=old).exists()
    client.force_login(member.user)
    new = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new != old
    assert MemberSession.objects.get(session_key=new).user_id == member.user_id


def test_sessions_kept_by_djangos_own_store_are_carried_over_signed_in():
    from django.contrib.sessions.backends.db import SessionStore as DjangosStore

    member = MemberFactory(tier=standard_tiers()["gold"])
    old = DjangosStore()
    old[SESSION_KEY] = str(member.user_id)
    old[BACKEND_SESSION_KEY] = "members.auth.MemberAuthenticationBackend"
    old[HASH_SESSION_KEY] = member.user.get_session_auth_hash()
    old.create()
    anonymous = DjangosStore()
    anonymous["socialaccount_state"] = "pending"
    anonymous.create()

    migration = importlib.import_module("members.migrations.0009_member_sessions")
    migration.copy_live_sessions(apps, None)

    assert MemberSession.objects.get(session_key=old.session_key).user_id == member.user_id
    assert MemberSession.objects.get(session_key=anonymous.session_key).user_id is None
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = old.session_key
    response = client.get("/points/")
    assert response.status_code == 200 and "金卡" in response.content.decode()


def test_expired_sessions_are_cleared_at_night_and_live_ones_stay():
    from datetime import timedelta

    from django.utils import timezone

    from members.tasks import clear_expired_sessions

    member, client = signed_in()
    live = client.cookies[settings.SESSION_COOKIE_NAME].value
    MemberSession.objects.create(session_key="x" * 32, session_data="",
                                 expire_date=timezone.now() - timedelta(days=1))  # fmt: skip
    assert clear_expired_sessions() == 1
    assert list(MemberSession.objects.values_list("session_key", flat=True)) == [live]
    assert client.get("/points/").status_code == 200
    assert "members-clear-expired-sessions" in settings.CELERY_BEAT_SCHEDULE


def test_a_renamed_tier_shows_on_the_next_request_and_costs_one_wide_read():
    """The process keeps a copy of a member's user, member and tier rows and reads only their
    versions with the session; a change to any of them is read in full once, then kept."""
    member, client = signed_in("gold")
    assert "金卡" in client.get("/points/").content.decode()
    client.get("/robots.txt")
    with CaptureQueriesContext(connection) as kept:
        client.get("/robots.txt")
    assert len(kept.captured_queries) == 1

    Tier.objects.filter(code="gold").update(name="黑金卡")
    with CaptureQueriesContext(connection) as changed:
        assert client.get("/robots.txt").status_code == 200
    assert len(changed.captured_queries) == 2  # the versions differ: the full rows, once
    assert "黑金卡" in client.get("/points/").content.decode()
    with CaptureQueriesContext(connection) as kept_again:
        client.get("/robots.txt")
    assert len(kept_again.captured_queries) == 1


def test_a_kept_copy_never_shares_a_value_between_requests():
    from members.sessions import SessionStore

    member, client = signed_in("gold")
    Member.objects.filter(pk=member.pk).update(zombie_reasons=["新注册"])
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    first = SessionStore(key)
    first.load()
    first_member = first.read_user[1].member
    first_member.zombie_reasons.append("changed in one request")
    first_member.display_name = "changed in one request"
    second = SessionStore(key)
    second.load()
    second_member = second.read_user[1].member
    assert second_member is not first_member
    assert second_member.zombie_reasons == ["新注册"]
    assert second_member.display_name == member.display_name
    assert second_member.tier.code == "gold" and second_member.user is second.read_user[1]


@pytest.mark.django_db(transaction=False)
def test_two_changes_within_one_transaction_each_show(client):
    """Within one transaction every row version has the same ``xmin``; the copy must still
    notice the second change (a long task, or every test that is one transaction)."""
    from members.sessions import SessionStore

    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["silver"])
    client.force_login(member.user)
    assert "银卡" in client.get("/points/").content.decode()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    def read() -> Member:
        store = SessionStore(key)
        store.load()
        return store.read_user[1].member

    for name, tier, tier_name in (("第一次", "gold", "金卡"), ("第二次", "platinum", "白金卡")):
        Member.objects.filter(pk=member.pk).update(display_name=name, tier=tiers[tier])
        assert (read().display_name, read().tier.name) == (name, tier_name)
        assert tier_name in client.get("/points/").content.decode()
    for tier_name in ("黑金卡", "钻石卡"):
        Tier.objects.filter(code="platinum").update(name=tier_name)
        assert read().tier.name == tier_name
