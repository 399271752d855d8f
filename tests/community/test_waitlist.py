"""Waiting lists: a freed unit is held for the next member in line, for a limited time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from community.models import (
    ActivitySeats,
    ItemAllocation,
    OfferClaim,
    OfferInventory,
    OfferWaitlistEntry,
    Registration,
)
from community.participation import selectors, services
from core.models import AuditEntry, Notification
from tests.community.test_claims import claim, make_offer, race
from tests.community.test_registrations import make_activity, published_to, register
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

Entry = OfferWaitlistEntry.State
States = Registration.State


@pytest.fixture
def tiers():
    return standard_tiers()


def golds(tiers, n):
    return [MemberFactory(tier=tiers["gold"]) for _ in range(n)]


def join(offer, member):
    return services.offer_waitlist_join(offer=offer, member=member)


def entry_of(offer, member) -> OfferWaitlistEntry:
    return OfferWaitlistEntry.objects.filter(offer=offer, member=member).latest("id")


def overdue(queryset) -> None:
    """Let the holds of ``queryset`` run out (as if their deadline had passed)."""
    queryset.update(hold_until=timezone.now() - timedelta(seconds=1))


def inventory(offer) -> tuple[int, int, int]:
    row = OfferInventory.objects.get(offer=offer)
    return row.total, row.claimed, row.held


def assert_offer_books_balance(offer) -> None:
    """What the inventory row says equals the rows it counts; nothing given twice."""
    total, claimed, held = inventory(offer)
    assert claimed == OfferClaim.objects.filter(offer=offer).count()
    assert held == OfferWaitlistEntry.objects.filter(offer=offer, state=Entry.HELD).count()
    assert claimed + held <= total
    codes = list(OfferClaim.objects.filter(offer=offer).values_list("code", flat=True))
    assert len(codes) == len(set(codes))
    waiting = OfferWaitlistEntry.objects.filter(offer=offer, state=Entry.WAITING).exists()
    if waiting:  # nothing lost: no unit lies free while someone waits
        assert claimed + held == total


# --- offers -------------------------------------------------------------------------------------


def test_sold_out_offer_takes_a_waiting_list_in_order_and_refuses_while_stock_is_left(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    with pytest.raises(services.StillAvailable):
        join(offer, first)
    claim(offer, first)
    with pytest.raises(services.ClaimLimitReached):  # a member at their limit has no use for it
        join(offer, first)
    join(offer, second)
    join(offer, third)
    with pytest.raises(services.AlreadyWaiting):
        join(offer, third)
    assert [selectors.offer_waitlist_position(entry_of(offer, m)) for m in (second, third)] == [
        1,
        2,
    ]
    services.offer_waitlist_leave(offer=offer, member=second)
    assert selectors.offer_waitlist_position(entry_of(offer, third)) == 1
    assert services.offer_waitlist_leave(offer=offer, member=second) is None  # twice: no-op


def test_new_codes_are_held_for_the_first_waiting_member_who_is_told_live(
    tiers, django_capture_on_commit_callbacks
):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    claim(offer, first)
    join(offer, second)
    join(offer, third)

    def add_code():
        with django_capture_on_commit_callbacks(execute=True):
            services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=StaffFactory())

    _result, events = published_to(second, add_code)

    hold = entry_of(offer, second)
    assert hold.state == Entry.HELD
    assert timedelta(hours=23) < hold.hold_until - timezone.now() <= timedelta(hours=24)
    assert inventory(offer) == (2, 1, 1)
    assert len(events) == 1 and events[0]["kind"] == "waitlist_promoted"
    assert offer.title in events[0]["title"] and events[0]["link"] == offer.url
    # Held for second: third (and anyone else) cannot take it.
    with pytest.raises(services.SoldOut):
        claim(offer, MemberFactory(tier=tiers["gold"]))
    got = claim(offer, second)
    assert got.code == "NEW-1"
    assert entry_of(offer, second).state == Entry.CLAIMED
    assert inventory(offer) == (2, 2, 0)
    assert entry_of(offer, third).state == Entry.WAITING
    assert AuditEntry.objects.filter(action="offer.hold_given").count() == 1
    assert_offer_books_balance(offer)


def test_an_overdue_hold_passes_to_the_next_member_and_a_second_sweep_changes_nothing(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    claim(offer, first)
    join(offer, second)
    join(offer, third)
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    overdue(OfferWaitlistEntry.objects.filter(offer=offer, state=Entry.HELD))

    assert services.holds_expire() == 1
    assert services.holds_expire() == 0
    assert entry_of(offer, second).state == Entry.EXPIRED
    assert entry_of(offer, third).state == Entry.HELD
    assert inventory(offer) == (2, 1, 1)
    with pytest.raises(services.SoldOut):
        claim(offer, second)  # too late
    assert AuditEntry.objects.filter(action="offer.hold_expired").count() == 1
    assert_offer_books_balance(offer)


def test_an_overdue_hold_is_passed_on_by_the_next_request_even_before_the_sweep(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third, outsider = golds(tiers, 4)
    claim(offer, first)
    join(offer, second)
    join(offer, third)
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    overdue(OfferWaitlistEntry.objects.filter(offer=offer, state=Entry.HELD))
    # Someone not on the list tries first: the unit goes to the next in line, not to them.
    with pytest.raises(services.SoldOut):
        claim(offer, outsider)
    assert entry_of(offer, third).state == Entry.HELD
    assert claim(offer, third).code == "NEW-1"
    assert_offer_books_balance(offer)


def test_declining_a_hold_passes_it_on_at_once(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    claim(offer, first)
    join(offer, second)
    join(offer, third)
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    services.offer_waitlist_leave(offer=offer, member=second)
    assert entry_of(offer, second).state == Entry.LEFT
    assert entry_of(offer, third).state == Entry.HELD
    assert inventory(offer) == (2, 1, 1)


def test_hold_duration_is_set_by_staff_and_never_outlives_the_claim_window(tiers):
    offer = make_offer(tiers["gold"], codes=1, valid_until=timezone.now() + timedelta(hours=3))
    services.allocation_configure(item=offer, actor=StaffFactory(), mode="first_come",
                                  hold_hours=2)  # fmt: skip
    first, second = golds(tiers, 2)
    claim(offer, first)
    join(offer, second)
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    left = entry_of(offer, second).hold_until - timezone.now()
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2)
    assert AuditEntry.objects.filter(action="allocation.configured").exists()

    other = make_offer(tiers["gold"], codes=1, valid_until=timezone.now() + timedelta(hours=1))
    claim(other, first)
    join(other, second)
    services.offer_codes_add(offer=other, codes=["NEW-2"], actor=None)
    assert entry_of(other, second).hold_until <= other.valid_until


def test_held_units_cannot_exceed_stock_even_if_the_code_forgets(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    claim(offer, MemberFactory(tier=tiers["gold"]))
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferInventory.objects.filter(offer=offer).update(held=1)


def test_item_page_shows_position_and_hold_deadline(client, tiers):
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    claim(offer, first)
    client.force_login(second.user)
    body = client.get(offer.url).content.decode()
    assert "加入候补" in body
    client.post(f"/community/offers/{offer.pk}/waitlist/", follow=True)
    join(offer, third)
    body = client.get(offer.url).content.decode()
    assert "您在候补名单第 1 位" in body and "退出候补" in body
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    body = client.get(offer.url).content.decode()
    deadline = timezone.localtime(entry_of(offer, second).hold_until)
    assert "已为您保留一份" in body and deadline.strftime("%Y年%-m月%-d日 %H:%M") in body
    assert "立即领取" in body
    client.force_login(third.user)
    body = client.get(offer.url).content.decode()
    assert "您在候补名单第 1 位" in body and "立即领取" not in body


def test_staff_see_the_waiting_list_in_the_admin(client, tiers, settings):
    settings.STAFF_REQUIRE_MFA = False
    offer = make_offer(tiers["gold"], codes=1)
    first, second, third = golds(tiers, 3)
    claim(offer, first)
    join(offer, second)
    join(offer, third)
    services.offer_codes_add(offer=offer, codes=["NEW-1"], actor=None)
    client.force_login(StaffFactory())
    body = client.get(f"/admin/community/participation/offers/{offer.pk}/").content.decode()
    assert 'data-testid="offer-waitlist"' in body
    assert body.index(str(second)) < body.index(str(third))
    assert "保留中" in body and "候补中" in body


# --- activities ---------------------------------------------------------------------------------


def test_activity_hold_runs_out_and_passes_to_the_next_member(tiers):
    activity = make_activity(tiers["gold"], capacity=1)
    holder, first, second = golds(tiers, 3)
    seat = register(activity, holder)
    register(activity, first)
    register(activity, second)
    services.registration_cancel(registration=seat, member=holder)
    held = Registration.objects.get(activity=activity, member=first)
    assert held.state == States.HELD
    # A newcomer finds no seat: the held one counts as taken.
    assert register(activity, MemberFactory(tier=tiers["gold"])).state == States.WAITLISTED
    overdue(Registration.objects.filter(pk=held.pk))
    assert services.holds_expire() == 1
    assert services.holds_expire() == 0
    assert Registration.objects.get(pk=held.pk).state == States.CANCELLED
    assert Registration.objects.get(activity=activity, member=second).state == States.HELD
    with pytest.raises(services.HoldExpired):
        services.registration_confirm(registration=held, member=first)
    assert ActivitySeats.objects.get(activity=activity).taken == 1
    assert AuditEntry.objects.filter(action="activity.hold_expired").count() == 1


def test_activity_page_shows_the_hold_and_confirms_it(client, tiers):
    activity = make_activity(tiers["gold"], capacity=1)
    holder, first = golds(tiers, 2)
    seat = register(activity, holder)
    register(activity, first)
    services.registration_cancel(registration=seat, member=holder)
    held = Registration.objects.get(activity=activity, member=first)
    client.force_login(first.user)
    body = client.get(activity.url).content.decode()
    assert "已为您保留一个名额" in body and "确认报名" in body
    assert timezone.localtime(held.hold_until).strftime("%H:%M") in body
    body = client.post(f"/community/registrations/{held.pk}/confirm/", follow=True)
    assert "名额已为您确认" in body.content.decode()
    assert Registration.objects.get(pk=held.pk).state == States.REGISTERED
    assert Notification.objects.filter(user=first.user, kind="waitlist_promoted").count() == 1


# --- real concurrency ---------------------------------------------------------------------------


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_claims_leaves_sweeps_and_new_stock_racing_never_give_a_unit_twice_or_lose_one():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=3, per_member_limit=1)
    buyers = golds(tiers, 3)
    for buyer in buyers:
        claim(offer, buyer)
    waiting = golds(tiers, 10)
    for member in waiting:
        join(offer, member)
    services.offer_codes_add(offer=offer, codes=["R-1", "R-2", "R-3", "R-4"], actor=None)
    held = list(OfferWaitlistEntry.objects.filter(offer=offer, state=Entry.HELD).order_by("id"))
    assert len(held) == 4
    overdue(OfferWaitlistEntry.objects.filter(pk__in=[held[0].pk, held[1].pk]))
    holders = {entry.member_id for entry in held}
    members = {member.pk: member for member in waiting}

    def act(i):
        if i < 4:  # every holder tries to claim, two of them too late
            return claim(offer, members[held[i].member_id]).code
        if i < 6:  # two sweeps at once
            return services.holds_expire()
        if i < 8:  # two more codes arrive
            return services.offer_codes_add(offer=offer, codes=[f"N-{i}"], actor=None).added
        if i < 10:  # two waiting members leave
            waiters = [m for m in waiting if m.pk not in holders]
            return services.offer_waitlist_leave(offer=offer, member=waiters[i - 8])
        return claim(offer, MemberFactory(tier=tiers["gold"])).code  # outsiders never win

    results = race(12, act)
    claimed_codes = [value for outcome, value in results[:4] if outcome == "ok"]
    assert len(claimed_codes) == 2, results
    assert results[10][0] == results[11][0] == "refused"
    assert_offer_books_balance(offer)
    # Every unit not claimed is held for someone, since members are still waiting.
    total, claimed, held_now = inventory(offer)
    assert (total, claimed) == (9, 5) and held_now == 4


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_cancellations_confirmations_and_expiry_racing_keep_seats_exact():
    tiers = standard_tiers()
    activity = make_activity(tiers["gold"], capacity=4)
    holders = golds(tiers, 4)
    seats = [register(activity, member) for member in holders]
    waiting = golds(tiers, 8)
    for member in waiting:
        register(activity, member)
    services.registration_cancel(registration=seats[0], member=holders[0])
    services.registration_cancel(registration=seats[1], member=holders[1])
    held = list(Registration.objects.filter(activity=activity, state=States.HELD).order_by("id"))
    assert len(held) == 2
    overdue(Registration.objects.filter(pk=held[0].pk))
    members = {member.pk: member for member in waiting}

    def act(i):
        if i < 2:
            registration = held[i]
            return services.registration_confirm(
                registration=registration, member=members[registration.member_id]
            ).state
        if i < 4:
            return services.holds_expire()
        return services.registration_cancel(
            registration=seats[i - 2], member=holders[i - 2]
        ).state  # the other two seat holders give back their seats

    results = race(6, act)
    assert results[0][0] == "refused" and results[1] == ("ok", States.REGISTERED)
    seats_row = ActivitySeats.objects.get(activity=activity)
    kept = Registration.objects.filter(
        activity=activity, state__in=[States.REGISTERED, States.HELD, States.ATTENDED]
    ).count()
    assert seats_row.taken == kept == 4  # every freed seat is held again: none lost
    assert Registration.objects.filter(activity=activity, state=States.HELD).count() == 3


def test_waitlist_configuration_defaults_to_first_come_with_a_day_long_hold():
    assert ItemAllocation().mode == ItemAllocation.Mode.FIRST_COME
    assert ItemAllocation().hold_hours == 24
