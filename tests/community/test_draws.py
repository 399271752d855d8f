"""Draws for scarce items: committed seed, fair weighted order, reproducible by anyone."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from community.models import (
    ActivitySeats,
    Draw,
    DrawEntry,
    ItemAllocation,
    OfferInventory,
    OfferWaitlistEntry,
    Registration,
)
from community.participation import services
from core.models import AuditEntry, Notification
from tests.community.test_claims import claim, make_offer, race
from tests.community.test_registrations import make_activity, published_to
from tests.conftest import BASE_DIR
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

VERIFIER = BASE_DIR / "docs" / "verify_draw.py"


@pytest.fixture
def tiers():
    return standard_tiers()


def configure_draw(item, *, opens=None, closes=None, weights=None, hold_hours=24, actor=None):
    now = timezone.now()
    return services.allocation_configure(
        item=item, actor=actor or StaffFactory(), mode="draw", hold_hours=hold_hours,
        entries_open_at=opens or now - timedelta(minutes=1),
        entries_close_at=closes or now + timedelta(hours=1), tier_weights=weights or {},
    )  # fmt: skip


def close_entries(item) -> None:
    """Move the entry window into the past, as if its close had come."""
    now = timezone.now()
    ItemAllocation.objects.filter(item_id=item.pk).update(
        entries_open_at=now - timedelta(hours=2), entries_close_at=now - timedelta(seconds=1)
    )


def enter(item, member):
    return services.draw_enter(item=item, member=member)


def record_of(client, item) -> dict:
    response = client.get(f"/community/draws/{item.pk}/draw.json")
    assert response.status_code == 200
    return response.json()


# --- the algorithm ------------------------------------------------------------------------------


def seeds(n: int):
    """Fixed, well-spread seeds: the statistical tests below give the same answer every run."""
    return (hashlib.sha256(f"seed-{i}".encode()).hexdigest() for i in range(n))


CHI_SQUARE_999 = {3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32}  # P(X > c) = 0.001


def chi_square(observed: Counter, expected: dict[str, float]) -> float:
    return sum((observed[key] - value) ** 2 / value for key, value in expected.items())


def test_first_pick_follows_the_weights_within_a_chi_square_bound():
    entries = [("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2), ("f", 3), ("g", 10)]
    rounds = 20000
    first = Counter(services.draw_order(seed, entries)[0] for seed in seeds(rounds))
    total = sum(weight for _id, weight in entries)
    expected = {entry: rounds * weight / total for entry, weight in entries}
    assert chi_square(first, expected) < CHI_SQUARE_999[len(entries) - 1], first
    # The heaviest entry wins about ten times as often as a weight-1 entry.
    assert 8 < first["g"] / first["a"] < 12


def test_equal_entrants_win_equally_often_when_several_units_are_drawn():
    entries = [(f"e{n}", 1) for n in range(8)]
    rounds, units = 8000, 3
    wins = Counter()
    for seed in seeds(rounds):
        wins.update(services.draw_order(seed, entries)[:units])
    expected = {entry: rounds * units / len(entries) for entry, _w in entries}
    assert chi_square(wins, expected) < 24.32, wins  # 7 degrees of freedom, p = 0.001
    assert max(wins.values()) / min(wins.values()) < 1.1


def test_weights_without_replacement_match_the_exact_inclusion_odds():
    """Two units among weights 1, 1, 2: the weight-2 entry is in the winners with probability
    1/2 + 1/4·2/3·2 = 5/6 (picked first, or second after either light entry)."""
    entries = [("light1", 1), ("light2", 1), ("heavy", 2)]
    rounds = 12000
    wins = Counter()
    for seed in seeds(rounds):
        wins.update(services.draw_order(seed, entries)[:2])
    assert abs(wins["heavy"] / rounds - 5 / 6) < 0.015
    assert abs(wins["light1"] / rounds - 7 / 12) < 0.02


def test_the_order_is_a_permutation_and_the_standalone_verifier_agrees():
    sys.path.insert(0, str(VERIFIER.parent))
    try:
        import verify_draw
    finally:
        sys.path.pop(0)
    for n, seed in zip(range(0, 60, 7), seeds(10), strict=False):
        entries = [(f"{i:04x}", 1 + i % 4) for i in range(n)]
        order = services.draw_order(seed, entries)
        assert sorted(order) == sorted(entry for entry, _w in entries)
        assert order == verify_draw.draw_order(seed, entries)


# --- configuring and entering -------------------------------------------------------------------


def test_choosing_a_draw_publishes_the_commitment_and_hides_the_seed(client, tiers):
    offer = make_offer(tiers["gold"], codes=3)
    configure_draw(offer)
    draw = Draw.objects.get(item_id=offer.pk)
    assert draw.commitment == hashlib.sha256(bytes.fromhex(draw.seed)).hexdigest()
    audit = AuditEntry.objects.get(action="draw.committed")
    assert audit.after["commitment"] == draw.commitment and draw.seed not in json.dumps(audit.after)
    member = MemberFactory(tier=tiers["gold"])
    client.force_login(member.user)
    body = client.get(offer.url).content.decode()
    assert draw.commitment in body and draw.seed not in body
    assert "参加抽签" in body
    record = record_of(client, offer)
    assert record["commitment"] == draw.commitment and record["seed"] is None
    assert record["entries"] is None  # the list is published once entries close
    assert draw.seed not in json.dumps(record)


def test_claims_wait_for_the_draw_and_entries_follow_the_window(tiers):
    offer = make_offer(tiers["gold"], codes=3)
    now = timezone.now()
    configure_draw(offer, opens=now + timedelta(minutes=5), closes=now + timedelta(hours=1))
    member = MemberFactory(tier=tiers["gold"])
    with pytest.raises(services.DrawNotOpen):
        enter(offer, member)
    with pytest.raises(services.DrawPending):
        claim(offer, member)
    ItemAllocation.objects.filter(item_id=offer.pk).update(entries_open_at=now)
    entry = enter(offer, member)
    assert len(entry.public_id) == 12 and entry.weight == 1
    with pytest.raises(services.AlreadyEntered):
        enter(offer, member)
    services.draw_withdraw(item=offer, member=member)
    again = enter(offer, member)
    assert again.public_id != entry.public_id
    close_entries(offer)
    with pytest.raises(services.DrawClosed):
        enter(offer, MemberFactory(tier=tiers["gold"]))
    with pytest.raises(services.TierTooLow):
        enter(offer, MemberFactory(tier=tiers["silver"]))


def test_tier_weights_are_set_by_staff_and_locked_once_members_entered(tiers):
    offer = make_offer(tiers["silver"], codes=2)
    configure_draw(offer, weights={"gold": 3, "platinum": 5})
    gold = enter(offer, MemberFactory(tier=tiers["gold"]))
    silver = enter(offer, MemberFactory(tier=tiers["silver"]))
    assert (gold.weight, silver.weight) == (3, 1)
    with pytest.raises(services.DrawSettingsLocked):
        configure_draw(offer, weights={"gold": 9})
    with pytest.raises(services.DrawSettingsLocked):
        services.allocation_configure(item=offer, actor=StaffFactory(), mode="first_come",
                                      hold_hours=24)  # fmt: skip
    with pytest.raises(services.InvalidAllocation):
        configure_draw(make_offer(tiers["gold"]), weights={"gold": 0})


# --- running the draw ---------------------------------------------------------------------------


def test_offer_draw_gives_winners_holds_and_losers_the_waiting_list_in_draw_order(
    client, tiers, django_capture_on_commit_callbacks
):
    offer = make_offer(tiers["gold"], codes=2)
    configure_draw(offer, weights={"platinum": 2})
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(4)] + [
        MemberFactory(tier=tiers["platinum"])
    ]
    entries = {enter(offer, member).public_id: member for member in members}
    with pytest.raises(services.DrawNotDue):
        services.draw_run(item=offer, actor=StaffFactory())
    close_entries(offer)

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return services.draw_run(item=offer)

    (draw, ran), _events = published_to(members[0], run, wait=0.5)
    assert ran and draw.units == 2
    draw_again, ran_again = services.draw_run(item=offer, actor=StaffFactory())
    assert not ran_again and draw_again.drawn_at == draw.drawn_at  # a second run is a no-op

    record = record_of(client, offer)
    assert record["winners"] == record["order"][:2] and len(record["order"]) == 5
    winners = [entries[public_id] for public_id in record["winners"]]
    losers = [entries[public_id] for public_id in record["order"][2:]]
    held = OfferWaitlistEntry.objects.filter(offer=offer, state="held")
    assert {entry.member_id for entry in held} == {member.pk for member in winners}
    assert OfferInventory.objects.get(offer=offer).held == 2
    waiting = list(OfferWaitlistEntry.objects.filter(offer=offer, state="waiting").order_by("id"))
    assert [entry.member_id for entry in waiting] == [member.pk for member in losers]
    # Winners were told live; losers hear their place on the waiting list (from a worker).
    assert services.draw_notify_waiting(item_id=offer.pk) == 3
    assert services.draw_notify_waiting(item_id=offer.pk) == 0
    for member in winners:
        assert Notification.objects.filter(
            user=member.user, title__startswith="中签", kind="draw_result"
        ).exists()
    for position, member in enumerate(losers, start=1):
        note = Notification.objects.get(user=member.user)
        assert f"第 {position} 位" in note.body and note.kind == "draw_result"
    # Everything is on the audit trail, the seed revealed only after the draw.
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"draw.committed", "draw.entries_closed", "draw.run", "draw.seed_revealed",
            "draw.allocated"} <= actions  # fmt: skip
    assert AuditEntry.objects.get(action="draw.run").actor_label == "draw_due"
    # A winner claims; a loser can only wait.
    assert claim(offer, winners[0]).code
    with pytest.raises(services.SoldOut):
        claim(offer, losers[0])


def test_anyone_can_recompute_the_winners_from_the_published_record(client, tiers, tmp_path):
    offer = make_offer(tiers["gold"], codes=3)
    configure_draw(offer, weights={"platinum": 4})
    for n in range(9):
        enter(offer, MemberFactory(tier=tiers["platinum" if n % 3 == 0 else "gold"]))
    close_entries(offer)
    services.draw_run(item=offer)
    record = record_of(client, offer)
    assert hashlib.sha256(bytes.fromhex(record["seed"])).hexdigest() == record["commitment"]
    listed = [(item["entry"], item["weight"]) for item in record["entries"]]
    assert sorted(weight for _e, weight in listed) == [1] * 6 + [4] * 3
    assert services.draw_order(record["seed"], listed)[:3] == record["winners"]
    # No personal data: entry ids and weights only.
    assert set(record["entries"][0]) == {"entry", "weight"}
    text = json.dumps(record, ensure_ascii=False)
    for entry in DrawEntry.objects.select_related("member"):
        assert entry.member.display_name not in text
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    result = subprocess.run([sys.executable, str(VERIFIER), str(path)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stdout.startswith("OK: 9 entries, 3 won"), result
    record["winners"] = list(reversed(record["winners"]))
    path.write_text(json.dumps(record), encoding="utf-8")
    result = subprocess.run([sys.executable, str(VERIFIER), str(path)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 1 and "winners differ" in result.stdout
    page = client.get(f"/community/draws/{offer.pk}/").content.decode()
    assert record["seed"] in page and record["winners"][0] in page


def test_management_command_verifies_a_draw(tiers, capsys):
    from django.core.management import call_command

    offer = make_offer(tiers["gold"], codes=1)
    configure_draw(offer)
    for _n in range(4):
        enter(offer, MemberFactory(tier=tiers["gold"]))
    close_entries(offer)
    services.draw_run(item=offer)
    call_command("verify_draw", str(offer.pk))
    assert "OK" in capsys.readouterr().out


def test_activity_draw_holds_seats_for_winners_and_a_declined_seat_goes_to_the_first_loser(
    client, tiers
):
    activity = make_activity(tiers["gold"], capacity=2)
    configure_draw(activity)
    members = [MemberFactory(tier=tiers["gold"]) for _ in range(5)]
    by_id = {enter(activity, member).public_id: member for member in members}
    with pytest.raises(services.DrawPending):
        services.activity_register(activity=activity, member=MemberFactory(tier=tiers["gold"]))
    close_entries(activity)
    services.draw_run(item=activity)
    record = record_of(client, activity)
    winners = [by_id[public_id] for public_id in record["winners"]]
    losers = [by_id[public_id] for public_id in record["order"][2:]]
    assert ActivitySeats.objects.get(activity=activity).taken == 2
    held = Registration.objects.get(activity=activity, member=winners[0])
    assert held.state == "held"
    client.force_login(winners[0].user)
    body = client.get(activity.url).content.decode()
    assert "恭喜中签" in body and "确认报名" in body
    services.registration_confirm(registration=held, member=winners[0])
    declined = Registration.objects.get(activity=activity, member=winners[1])
    services.registration_cancel(registration=declined, member=winners[1])
    assert Registration.objects.get(activity=activity, member=losers[0]).state == "held"
    assert Registration.objects.get(activity=activity, member=losers[1]).state == "waitlisted"
    client.force_login(losers[1].user)
    body = client.get(activity.url).content.decode()
    assert "未中签" in body and "候补名单第 1 位" in body


def test_beat_runs_due_draws_once(tiers):
    offer = make_offer(tiers["gold"], codes=1)
    configure_draw(offer)
    enter(offer, MemberFactory(tier=tiers["gold"]))
    assert services.draws_due() == 0
    close_entries(offer)
    assert services.draws_due() == 1
    assert services.draws_due() == 0
    assert AuditEntry.objects.filter(action="draw.run").count() == 1


def test_staff_configure_and_run_a_draw_from_the_admin(client, tiers, settings):
    settings.STAFF_REQUIRE_MFA = False
    offer = make_offer(tiers["gold"], codes=2)
    staff = StaffFactory()
    client.force_login(staff)
    now = timezone.localtime()
    form = {"mode": "draw", "hold_hours": 12,
            "entries_open_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "entries_close_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            **{f"weight_{code}": 1 for code in tiers}, "weight_platinum": 3}  # fmt: skip
    url = f"/admin/community/participation/items/{offer.pk}/allocation/"
    response = client.post(url, form, follow=True)
    assert "分配设置已保存" in response.content.decode()
    allocation = ItemAllocation.objects.get(item_id=offer.pk)
    assert allocation.hold_hours == 12 and allocation.tier_weights == {"platinum": 3}
    enter(offer, MemberFactory(tier=tiers["platinum"]))
    close_entries(offer)
    detail = client.get(f"/admin/community/participation/offers/{offer.pk}/").content.decode()
    assert "立即开奖" in detail and 'data-testid="draw-entries"' in detail
    response = client.post(f"/admin/community/participation/items/{offer.pk}/draw/run/",
                           follow=True)  # fmt: skip
    assert "已开奖" in response.content.decode()
    assert AuditEntry.objects.get(action="draw.run").actor_id == staff.pk
    response = client.post(f"/admin/community/participation/items/{offer.pk}/draw/run/",
                           follow=True)  # fmt: skip
    assert "之前已经开奖" in response.content.decode()


# --- real concurrency ---------------------------------------------------------------------------


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_late_entries_racing_the_draw_are_either_in_it_or_refused():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=3)
    now = timezone.now()
    close_at = now + timedelta(seconds=3)
    configure_draw(offer, opens=now - timedelta(minutes=1), closes=close_at)
    early = [MemberFactory(tier=tiers["gold"]) for _ in range(4)]
    for member in early:
        enter(offer, member)
    late = [MemberFactory(tier=tiers["gold"]) for _ in range(16)]
    start = close_at.timestamp() - 0.4

    def act(i):
        if i == 16:  # the draw, retried from the close until it may run
            while True:
                try:
                    return services.draw_run(item=offer)[1]
                except services.DrawNotDue:
                    time.sleep(0.01)
        time.sleep(max(start + i * 0.05 - time.time(), 0))  # spread across the close
        return enter(offer, late[i]).public_id

    results = race(17, act)
    assert results[16] == ("ok", True)
    accepted = {value for outcome, value in results[:16] if outcome == "ok"}
    refused = [value for outcome, value in results[:16] if outcome == "refused"]
    assert set(refused) <= {"draw_closed"}
    assert len(accepted) + len(refused) == 16
    listed = set(DrawEntry.objects.values_list("public_id", flat=True))
    ranked = set(DrawEntry.objects.filter(rank__isnull=False).values_list("public_id", flat=True))
    assert accepted <= listed and listed == ranked  # every accepted entry was drawn
    assert len(listed) == 4 + len(accepted)
    draw = Draw.objects.get(item_id=offer.pk)
    assert draw.units == 3 and OfferInventory.objects.get(offer=offer).held == 3
    assert (
        OfferWaitlistEntry.objects.filter(offer=offer, state="waiting").count() == len(listed) - 3
    )


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_draw_runs_at_once_draw_once():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=2)
    configure_draw(offer)
    for _n in range(6):
        enter(offer, MemberFactory(tier=tiers["gold"]))
    close_entries(offer)
    results = race(3, lambda i: services.draw_run(item=offer)[1])
    assert sorted(value for _outcome, value in results) == [False, False, True]
    assert OfferInventory.objects.get(offer=offer).held == 2
    assert OfferWaitlistEntry.objects.filter(offer=offer).count() == 6


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_stock_added_while_the_draw_runs_goes_to_the_waiting_list_in_draw_order():
    tiers = standard_tiers()
    offer = make_offer(tiers["gold"], codes=2)
    configure_draw(offer)
    for _n in range(8):
        enter(offer, MemberFactory(tier=tiers["gold"]))
    close_entries(offer)

    def act(i):
        if i < 2:
            return services.draw_run(item=offer)[1]
        if i < 4:
            return services.offer_codes_add(offer=offer, codes=[f"LATE-{i}"], actor=None).added
        return services.holds_expire()

    results = race(5, act)
    assert sorted(value for _outcome, value in results[:2]) == [False, True]
    inventory = OfferInventory.objects.get(offer=offer)
    held = OfferWaitlistEntry.objects.filter(offer=offer, state="held")
    assert (inventory.total, inventory.claimed, inventory.held) == (4, 0, 4) == (4, 0, len(held))
    # Whether the codes came before or after the draw, the four first in draw order hold them.
    order = list(DrawEntry.objects.order_by("rank").values_list("member_id", flat=True))
    assert {entry.member_id for entry in held} == set(order[:4])
    waiting = OfferWaitlistEntry.objects.filter(offer=offer, state="waiting").order_by("id")
    assert [entry.member_id for entry in waiting] == order[4:]
