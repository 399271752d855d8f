"""Registering for activities: seats, the waiting list and cancellation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community import demo
from community.models import ActivityPage, ActivitySeats, Registration
from community.participation import selectors, services
from core.events import user_group
from members.models import Member
from tests.community.test_claims import publish_item, race
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db

MY_ACTIVITIES_URL = "/community/my/activities/"
States = Registration.State


def make_activity(tier=None, **fields) -> ActivityPage:
    """A live activity for ``tier`` and above (any member when None), registration open now."""
    now = timezone.now()
    slug = fields.pop("slug", f"activity-{uuid.uuid4().hex[:8]}")
    defaults = {
        "title": f"会员活动 {slug}", "slug": slug, "summary": "线下活动。",
        "access": "min_tier" if tier else "members", "min_tier": tier,
        "body": [("paragraph", "<p>开场白</p>"), ("paywall", None),
                 ("paragraph", f"<p>{demo.secret_marker(slug)}</p>")],
        "capacity": 2, "place": "上海 静安区",
        "starts_at": now + timedelta(days=10), "ends_at": now + timedelta(days=11),
        "registration_closes_at": now + timedelta(days=9),
        "cancellation_deadline": now + timedelta(days=5),
    }  # fmt: skip
    return publish_item(ActivityPage(**{**defaults, **fields}))


def register(activity, member) -> Registration:
    return services.activity_register(activity=activity, member=member)


def snapshot(activity) -> tuple:
    seats = ActivitySeats.objects.filter(activity=activity).values_list("capacity", "taken").first()
    states = sorted(
        Registration.objects.filter(activity=activity).values_list("member_id", "state")
    )
    return seats, states


def positions(activity) -> list[int | None]:
    return [
        selectors.waitlist_position(r)
        for r in Registration.objects.filter(activity=activity, state=States.WAITLISTED)
    ]


def published_to(member: Member, action, wait: float = 2.0) -> tuple[object, list[dict]]:
    """Run ``action`` while subscribed to the member's group on the real Redis channel layer;
    its result and the payloads that arrived."""

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group(member.user_id), channel)
        result = await sync_to_async(action)()
        payloads = []
        timeout = wait
        try:
            while True:
                message = await asyncio.wait_for(layer.receive(channel), timeout)
                payloads.append(message["payload"])
                timeout = 0.3
        except TimeoutError:
            pass
        await layer.group_discard(user_group(member.user_id), channel)
        return result, payloads

    return async_to_sync(scenario)()


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def gold(tiers):
    return MemberFactory(tier=tiers["gold"])


# --- seats and the waiting list -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def attendance_rule(db):
    from loyalty.models import EarningRule

    return EarningRule.objects.create(name="参加活动", trigger="activity_attended", points=50)


def test_register_holds_seats_then_waitlists_in_order(tiers):
    activity = make_activity(tiers["gold"], capacity=2)
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(4)]
    states = [register(activity, member).state for member in members]
    assert states == [States.REGISTERED, States.REGISTERED, States.WAITLISTED, States.WAITLISTED]
    assert ActivitySeats.objects.get(activity=activity).taken == 2
    assert positions(activity) == [1, 2]


def test_registration_box_and_my_activities_show_state_and_position(client, tiers):
    activity = make_activity(tiers["gold"], capacity=1)
    register(activity, MemberFactory(tier=tiers["gold"]))
    waiting = MemberFactory(tier=tiers["gold"])
    client.force_login(waiting.user)
    page = client.get(activity.url).content.decode()
    assert "加入候补" in page and "剩余名额 0 / 1" in page

    body = client.post(f"/community/activities/{activity.pk}/register/", follow=True)
    assert "您已进入候补名单" in body.content.decode()
    page = client.get(activity.url).content.decode()
    assert "您在候补名单第 1 位" in page and "退出候补" in page
    mine = client.get(MY_ACTIVITIES_URL).content.decode()
    assert activity.title in mine and "候补第 1 位" in mine and "退出候补" in mine


def test_teaser_viewers_get_no_registration_box(client, tiers):
    activity = make_activity(tiers["gold"])
    client.force_login(MemberFactory(tier=tiers["silver"]).user)
    body = client.get(activity.url).content.decode()
    assert 'data-testid="registration"' not in body and 'data-testid="paywall"' in body
    client.logout()
    assert 'data-testid="registration"' not in client.get(activity.url).content.decode()


def test_registering_twice_is_refused_and_changes_nothing(client, tiers, gold):
    activity = make_activity(tiers["gold"])
    register(activity, gold)
    before = snapshot(activity)
    with pytest.raises(services.AlreadyRegistered):
        register(activity, gold)
    client.force_login(gold.user)
    body = client.post(f"/community/activities/{activity.pk}/register/", follow=True)
    assert "您已经报名了这个活动" in body.content.decode()
    assert snapshot(activity) == before


def test_tier_too_low_and_account_state_change_nothing(tiers):
    activity = make_activity(tiers["gold"])
    before = snapshot(activity)
    with pytest.raises(services.TierTooLow) as error:
        register(activity, MemberFactory(tier=tiers["silver"]))
    assert "等级不够" in error.value.message
    with pytest.raises(services.AccountStateNotAllowed):
        register(activity, MemberFactory(tier=tiers["gold"], state=Member.State.SUSPENDED))
    assert snapshot(activity) == before


@pytest.mark.parametrize("window", ["closed", "not_open", "started"])
def test_outside_the_registration_window_changes_nothing(client, tiers, gold, window):
    now = timezone.now()
    fields = {
        "closed": {"registration_closes_at": now - timedelta(hours=1)},
        "not_open": {"registration_opens_at": now + timedelta(days=1)},
        "started": {"registration_closes_at": None, "starts_at": now - timedelta(hours=1)},
    }[window]
    activity = make_activity(tiers["gold"], **fields)
    before = snapshot(activity)
    with pytest.raises(services.OutsideRegistrationWindow):
        register(activity, gold)
    client.force_login(gold.user)
    body = client.post(f"/community/activities/{activity.pk}/register/", follow=True)
    assert "不在报名时间内" in body.content.decode() or "报名尚未开始" in body.content.decode()
    assert snapshot(activity) == before


def test_more_capacity_holds_a_seat_for_the_first_waiting_member(tiers):
    activity = make_activity(tiers["gold"], capacity=1)
    first, second, third = (MemberFactory(tier=tiers["gold"]) for _ in range(3))
    for member in (first, second, third):
        register(activity, member)
    activity.capacity = 2
    activity.save_revision().publish()
    services.activity_seats_sync(activity=activity)
    assert Registration.objects.get(member=second).state == States.HELD
    assert Registration.objects.get(member=third).state == States.WAITLISTED
    assert ActivitySeats.objects.get(activity=activity).taken == 2


# --- cancelling ---------------------------------------------------------------------------------


def test_cancel_frees_the_seat_and_holds_it_for_the_first_waiting_member(
    tiers, django_capture_on_commit_callbacks
):
    activity = make_activity(tiers["gold"], capacity=1)
    holder, first, second = (MemberFactory(tier=tiers["gold"]) for _ in range(3))
    seat = register(activity, holder)
    register(activity, first)
    register(activity, second)

    def cancel():
        with django_capture_on_commit_callbacks(execute=True):
            services.registration_cancel(registration=seat, member=holder)

    _result, events = published_to(first, cancel)

    assert Registration.objects.get(pk=seat.pk).state == States.CANCELLED
    held = Registration.objects.get(member=first)
    assert held.state == States.HELD and held.hold_until > timezone.now()
    confirmed = services.registration_confirm(registration=held, member=first)
    assert confirmed.state == States.REGISTERED and confirmed.promoted_at is not None
    assert Registration.objects.get(member=second).state == States.WAITLISTED
    assert positions(activity) == [1]
    assert ActivitySeats.objects.get(activity=activity).taken == 1
    assert len(events) == 1
    assert events[0]["kind"] == "waitlist_promoted" and events[0]["link"] == activity.url
    assert activity.title in events[0]["title"]


def test_cancel_via_my_activities(client, tiers, gold):
    activity = make_activity(tiers["gold"])
    registration = register(activity, gold)
    client.force_login(gold.user)
    assert "取消报名" in client.get(MY_ACTIVITIES_URL).content.decode()
    body = client.post(f"/community/registrations/{registration.pk}/cancel/", follow=True)
    assert "已取消报名" in body.content.decode()
    assert ActivitySeats.objects.get(activity=activity).taken == 0
    # Cancelled, the member may register again (a new row).
    assert register(activity, gold).state == States.REGISTERED


def test_cancel_after_the_deadline_is_refused_and_changes_nothing(client, tiers, gold):
    deadline = timezone.now() - timedelta(minutes=1)
    activity = make_activity(tiers["gold"], capacity=1, cancellation_deadline=deadline)
    registration = register(activity, gold)
    waiting = MemberFactory(tier=tiers["gold"])
    register(activity, waiting)
    before = snapshot(activity)
    with pytest.raises(services.CancellationClosed):
        services.registration_cancel(registration=registration, member=gold)
    client.force_login(gold.user)
    page = client.get(activity.url).content.decode()
    assert "已过取消截止时间" in page and "取消报名" not in page
    body = client.post(f"/community/registrations/{registration.pk}/cancel/", follow=True)
    assert "已过取消截止时间，无法取消报名" in body.content.decode()
    assert snapshot(activity) == before
    # Leaving the waiting list is always possible.
    services.registration_cancel(
        registration=Registration.objects.get(member=waiting), member=waiting
    )
    assert Registration.objects.get(member=waiting).state == States.CANCELLED


def test_members_cannot_cancel_each_others_registrations(client, tiers, gold):
    activity = make_activity(tiers["gold"])
    registration = register(activity, gold)
    other = MemberFactory(tier=tiers["gold"])
    client.force_login(other.user)
    assert client.post(f"/community/registrations/{registration.pk}/cancel/").status_code == 404
    with pytest.raises(services.PermissionDenied):
        services.registration_cancel(registration=registration, member=other)
    assert Registration.objects.get(pk=registration.pk).state == States.REGISTERED


# --- check-in: by membership card, tests/community/test_card_checkin.py ---------------------------


# --- the database holds the invariants ----------------------------------------------------------


def test_seats_cannot_be_overbooked(tiers, gold):
    activity = make_activity(tiers["gold"], capacity=1)
    register(activity, gold)
    with pytest.raises(IntegrityError), transaction.atomic():
        ActivitySeats.objects.filter(activity=activity).update(taken=2)


def test_one_open_registration_per_member_and_activity(tiers, gold):
    activity = make_activity(tiers["gold"])
    register(activity, gold)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(activity=activity, member=gold, state=States.WAITLISTED)


def test_attended_and_cancelled_states_carry_their_time(tiers, gold):
    activity = make_activity(tiers["gold"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(activity=activity, member=gold, state=States.ATTENDED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(activity=activity, member=gold, state=States.CANCELLED)


def test_my_activities_query_count_does_not_grow(client, tiers, gold):
    client.force_login(gold.user)
    activities = [make_activity(tiers["gold"], capacity=0) for _ in range(5)]
    register(activities[0], gold)
    client.get(MY_ACTIVITIES_URL)
    with CaptureQueriesContext(connection) as one:
        client.get(MY_ACTIVITIES_URL)
    for activity in activities[1:]:
        register(activity, gold)
    with CaptureQueriesContext(connection) as five:
        body = client.get(MY_ACTIVITIES_URL).content.decode()
    assert body.count("候补第 1 位") == 5
    assert len(five) == len(one)


# --- real concurrency ---------------------------------------------------------------------------


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_twenty_members_racing_for_three_seats():
    tiers = standard_tiers()
    activity = make_activity(tiers["gold"], capacity=3)
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(20)]

    results = race(20, lambda i: register(activity, members[i]).state)

    states = [value for outcome, value in results if outcome == "ok"]
    assert states.count(States.REGISTERED) == 3 and states.count(States.WAITLISTED) == 17
    assert ActivitySeats.objects.get(activity=activity).taken == 3
    assert sorted(positions(activity)) == list(range(1, 18))
    waiting = Registration.objects.filter(activity=activity, state=States.WAITLISTED)
    by_id = [selectors.waitlist_position(r) for r in waiting.order_by("id")]
    assert by_id == list(range(1, 18))


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_cancellations_racing_with_registrations_keep_the_seat_count_true():
    tiers = standard_tiers()
    activity = make_activity(tiers["gold"], capacity=3)
    holders = [MemberFactory(tier=tiers["gold"]) for _ in range(3)]
    seats = [register(activity, member) for member in holders]
    newcomers = [MemberFactory(tier=tiers["gold"]) for _ in range(6)]

    def act(i):
        if i < 3:
            return services.registration_cancel(registration=seats[i], member=holders[i]).state
        return register(activity, newcomers[i - 3]).state

    race(9, act)

    kept = Registration.objects.filter(
        activity=activity, state__in=[States.REGISTERED, States.HELD]
    ).count()
    assert kept == 3 == ActivitySeats.objects.get(activity=activity).taken
    assert Registration.objects.filter(activity=activity, state=States.WAITLISTED).count() == 3
