"""Signing in reads the user, member, tier and notification badge in one prepared statement.

What a member notices: the header shows their tier and unread count, and a change (a new
notification, a tier change, a suspension) shows on the very next request, whether the
statement runs prepared on the server or, behind a transaction pooler, as plain SQL.
"""

from __future__ import annotations

import pytest
from django.db import connection

from core.models import Notification
from core.notifications import notify
from members.auth import user_with_member
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)


def _prepared_on_server() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'club_%%'")
        return cursor.fetchone()[0]


def test_the_user_comes_with_member_tier_and_badge_as_the_orm_would_read_them():
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    notify(user_id=member.user_id, kind=Notification.Kind.TIER_UP, title="一", body="")
    notify(user_id=member.user_id, kind=Notification.Kind.TIER_UP, title="二", body="")
    Notification.objects.filter(user=member.user, title="一").update(read_at="2026-01-01T00:00Z")
    newest = Notification.objects.filter(user=member.user).latest("id").pk

    user = user_with_member.first(member.user_id)

    assert user.pk == member.user_id and user.username == member.user.username
    assert user.member.pk == member.pk and user.member.tier.code == "gold"
    assert user.member.user is user  # no query to go back
    assert (user.badge_unread, user.badge_newest) == (1, newest)
    assert user_with_member.first(10**9) is None


def test_a_user_without_a_member_row_has_none(django_assert_num_queries):
    staff = StaffFactory()
    user = user_with_member.first(staff.pk)
    with django_assert_num_queries(0):
        assert not hasattr(user, "member")
    assert (user.badge_unread, user.badge_newest) == (0, 0)


def test_changes_show_on_the_next_read_and_a_new_connection_prepares_again():
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["silver"])
    assert user_with_member.first(member.user_id).member.tier.code == "silver"
    assert _prepared_on_server() == 1

    Member.objects.filter(pk=member.pk).update(tier=tiers["platinum"], state=Member.State.SUSPENDED)
    notify(user_id=member.user_id, kind=Notification.Kind.TIER_UP, title="新", body="")
    again = user_with_member.first(member.user_id)
    assert again.member.tier.code == "platinum"
    assert again.member.state == Member.State.SUSPENDED
    assert again.badge_unread == 1

    connection.close()  # the server forgets its prepared statements with the session
    assert user_with_member.first(member.user_id).member.tier.code == "platinum"
    assert _prepared_on_server() == 1


def test_behind_a_transaction_pooler_the_plain_statement_is_sent(settings):
    tiers = standard_tiers()
    member = MemberFactory(tier=tiers["gold"])
    connection.close()
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        assert user_with_member.first(member.user_id).member.tier.code == "gold"
        assert _prepared_on_server() == 0
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = False
