"""The membership card and check-in at the door by its rotating QR code.

What a member notices: the card with their tier, number, points and tier progress; a QR code
on it on the day of an activity they hold a seat at, that changes every 30 seconds. What staff
notice: the scanner checks a present registrant in once, says 已签到 on a repeat, and refuses
a code of another member, an old screenshot, a forgery and anyone without a seat.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from community.models import Registration
from community.participation import services
from core.models import AuditEntry
from loyalty.models import PointsAccount, PointsEntry
from members import card as membership_card
from members.errors import CardCodeExpired, CardCodeInvalid
from members.models import Member
from tests.community.test_registrations import make_activity, published_to, register
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

States = Registration.State
CARD_URL = "/members/card/"
STEP = membership_card.STEP_SECONDS


@pytest.fixture
def tiers():
    tiers = standard_tiers()
    for code, colour in [("regular", "#8a8a8a"), ("silver", "#9aa5b1"), ("gold", "#c9a227"),
                         ("platinum", "#5b5f97")]:  # fmt: skip
        tiers[code].badge_colour = colour
        tiers[code].save(update_fields=["badge_colour"])
    return tiers


@pytest.fixture
def gold(tiers):
    return MemberFactory(tier=tiers["gold"], membership_number="VIP-100200")


@pytest.fixture(autouse=True)
def attendance_rule(db):
    from loyalty.models import EarningRule

    return EarningRule.objects.create(name="参加活动", trigger="activity_attended", points=50)


@pytest.fixture(autouse=True)
def no_staff_mfa(settings):
    settings.STAFF_REQUIRE_MFA = False


def registered_today(tier, member, **fields):
    activity = make_activity(tier, **fields)
    registration = register(activity, member)
    now = timezone.now()
    type(activity).objects.filter(pk=activity.pk).update(
        starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=3)
    )
    activity.refresh_from_db()
    return activity, registration


def code_of(member, at=None) -> str:
    return membership_card.card_code_for(member, now=at or timezone.now()).text


def scanner_staff():
    """A staff member holding only the check-in permission."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="community", codename="change_registration")
    )
    return user


def scan(client, activity, code):
    response = client.post(
        f"/community/checkin/{activity.pk}/", {"code": code}, HTTP_ACCEPT="application/json"
    )
    return response.status_code, json.loads(response.content)


# --- the code ------------------------------------------------------------------------------------


def test_a_code_names_its_member_only_within_its_window(gold):
    start = timezone.now().replace(microsecond=0)
    start -= timedelta(seconds=int(start.timestamp()) % STEP)  # the first second of a step
    code = code_of(gold, at=start)
    assert code.startswith(f"{gold.pk}-")
    read = membership_card.card_code_member_id
    # Valid in its step and the next one (and a step early, for clocks of other web servers).
    for seconds in (-STEP, 0, 29, STEP, 2 * STEP - 1):
        assert read(code, now=start + timedelta(seconds=seconds)) == gold.pk
    # A screenshot a minute old is genuine but expired; so is one from yesterday.
    for seconds in (2 * STEP, 10 * 60, 24 * 3600, -2 * STEP):
        with pytest.raises(CardCodeExpired):
            read(code, now=start + timedelta(seconds=seconds))
    # The code changes every step.
    assert code != code_of(gold, at=start + timedelta(seconds=STEP))
    assert code == code_of(gold, at=start + timedelta(seconds=STEP - 1))


def test_codes_of_one_member_fail_for_another(tiers, gold):
    other = MemberFactory(tier=tiers["gold"])
    now = timezone.now()
    _pk, step, mac = code_of(gold, at=now).split("-")
    with pytest.raises(CardCodeInvalid):
        membership_card.card_code_member_id(f"{other.pk}-{step}-{mac}", now=now)
    # No other member's MAC works either, nor a tampered step or MAC.
    forged = [f"{gold.pk}-{step}-{(int(mac) + 1) % 10**8:08d}", f"{gold.pk}-{step}-00000000",
              f"{gold.pk}-{(int(step) + 1) % 10**4:04d}-{mac}", "", "123", "1-2-3",
              f"{gold.pk}-{step}-{mac}x", f"{gold.pk}{step}{mac}"]  # fmt: skip
    for code in forged:
        with pytest.raises(CardCodeInvalid):
            membership_card.card_code_member_id(code, now=now)


def test_a_typed_code_may_carry_spaces(gold):
    now = timezone.now()
    code = code_of(gold, at=now)
    assert membership_card.card_code_member_id(f"  {code.replace('-', ' - ')} ", now=now) == (
        gold.pk
    )


def test_the_key_comes_from_the_secret_key(settings, gold):
    now = timezone.now()
    code = code_of(gold, at=now)
    settings.SECRET_KEY = "another-secret-key-for-another-site-entirely"
    with pytest.raises(CardCodeInvalid):
        membership_card.card_code_member_id(code, now=now)


# --- checking in at the door ---------------------------------------------------------------------


def test_staff_check_a_member_in_by_card_once_and_points_are_awarded_once(
    client, tiers, gold, django_capture_on_commit_callbacks
):
    activity, registration = registered_today(tiers["gold"], gold)
    staff = scanner_staff()
    client.force_login(staff)
    code = code_of(gold)

    def check_in():
        with django_capture_on_commit_callbacks(execute=True):
            return scan(client, activity, code)

    (status, body), events = published_to(gold, check_in)
    assert status == 200 and body["result"] == "ok"
    assert str(gold) in body["message"] and body["member"]["tier"] == "金卡"
    assert body["member"]["number"] == "VIP-100200"
    assert body["counts"] == {"attended": 1, "seats": 1}
    assert [(event["kind"], event["title"]) for event in events] == [
        ("points_awarded", "获得 50 积分")
    ]
    registration.refresh_from_db()
    assert registration.state == States.ATTENDED and registration.checkin_method == "card"
    assert registration.checked_in_by == staff

    # The same code again within its window (the card still in front of the lens, or a
    # replay): counted once, and staff are told the member is already in.
    (status, body), events = published_to(gold, check_in, wait=0.5)
    assert status == 200 and body["result"] == "already" and "已签到" in body["message"]
    assert events == []
    account = PointsAccount.objects.get(member=gold)
    assert account.balance == 50
    entries = PointsEntry.objects.filter(account=account)
    assert entries.count() == 1
    assert entries.get().idempotency_key  # the ledger row carries its key
    audit = AuditEntry.objects.filter(action="activity.attended", target_id=str(registration.pk))
    assert audit.count() == 1
    assert audit.get().actor == staff and audit.get().after["method"] == "card"


def test_an_old_screenshot_is_refused_with_a_clear_message(client, tiers, gold):
    activity, registration = registered_today(tiers["gold"], gold)
    client.force_login(scanner_staff())
    old = code_of(gold, at=timezone.now() - timedelta(seconds=2 * STEP + 5))
    status, body = scan(client, activity, old)
    assert body["result"] == "refused" and "已过期" in body["message"]
    assert "截图" in body["message"]
    assert Registration.objects.get(pk=registration.pk).state == States.REGISTERED


def test_another_members_code_checks_in_nobody_else(client, tiers, gold):
    activity, registration = registered_today(tiers["gold"], gold)
    friend = MemberFactory(tier=tiers["gold"])  # present, not registered, holds their own card
    client.force_login(scanner_staff())
    status, body = scan(client, activity, code_of(friend))
    assert body["result"] == "refused" and "没有这个活动的有效报名" in body["message"]
    forged = code_of(gold).replace(f"{gold.pk}-", f"{friend.pk}-", 1)
    status, body = scan(client, activity, forged)
    assert body["result"] == "refused" and "无法识别" in body["message"]
    assert Registration.objects.get(pk=registration.pk).state == States.REGISTERED
    assert not Registration.objects.filter(member=friend).exists()


def test_waitlisted_held_cancelled_unregistered_and_suspended_are_refused(tiers, gold):
    activity = make_activity(tiers["gold"], capacity=1)
    register(activity, MemberFactory(tier=tiers["gold"]))
    waiting = MemberFactory(tier=tiers["gold"])
    register(activity, waiting)
    stranger = MemberFactory(tier=tiers["gold"])
    staff = scanner_staff()
    for member in (waiting, stranger):
        with pytest.raises(services.CardHolderNotRegistered):
            services.activity_checkin_by_card(activity=activity, code=code_of(member), actor=staff)
    cancelled = MemberFactory(tier=tiers["gold"])
    other = make_activity(tiers["gold"])
    services.registration_cancel(registration=register(other, cancelled), member=cancelled)
    with pytest.raises(services.CardHolderNotRegistered):
        services.activity_checkin_by_card(activity=other, code=code_of(cancelled), actor=staff)
    held = MemberFactory(tier=tiers["gold"])  # a freed seat held for them, not yet taken
    Registration.objects.filter(pk=register(other, held).pk).update(
        state=States.HELD, hold_until=timezone.now() + timedelta(hours=1)
    )
    with pytest.raises(services.CardHolderNotRegistered):
        services.activity_checkin_by_card(activity=other, code=code_of(held), actor=staff)
    seated = MemberFactory(tier=tiers["gold"])
    registration = register(other, seated)
    Member.objects.filter(pk=seated.pk).update(state=Member.State.SUSPENDED)
    with pytest.raises(services.CardHolderNotAdmitted):
        services.activity_checkin_by_card(activity=other, code=code_of(seated), actor=staff)
    assert Registration.objects.get(pk=registration.pk).state == States.REGISTERED
    assert not Registration.objects.filter(state=States.ATTENDED).exists()
    assert not PointsEntry.objects.exists()


def test_a_code_of_a_member_who_no_longer_exists_is_refused(tiers, gold):
    activity = make_activity(tiers["gold"])
    now = timezone.now()
    ghost = Member(pk=gold.pk + 10_000)
    with pytest.raises(CardCodeInvalid):
        services.activity_checkin_by_card(
            activity=activity, code=code_of(ghost, at=now), actor=scanner_staff(), now=now
        )


def test_typed_entry_without_javascript(client, tiers, gold):
    activity, _registration = registered_today(tiers["gold"], gold)
    client.force_login(scanner_staff())
    url = f"/community/checkin/{activity.pk}/"
    page = client.post(url, {"code": code_of(gold)}, follow=True).content.decode()
    assert "签到成功" in page and str(gold) in page
    page = client.post(url, {"code": code_of(gold)}, follow=True).content.decode()
    assert "已签到" in page


def test_the_scanner_is_for_staff_with_the_check_in_permission(client, tiers, gold):
    activity, registration = registered_today(tiers["gold"], gold)
    urls = ["/community/checkin/", f"/community/checkin/{activity.pk}/"]
    for url in urls:  # outsiders go to the staff login
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(gold.user)  # a member, even one with a seat, may not scan
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(urls[1], {"code": code_of(gold)}).status_code == 403
    client.force_login(UserFactory(is_staff=True))  # staff without the permission
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(urls[1], {"code": code_of(gold)}).status_code == 403
    assert Registration.objects.get(pk=registration.pk).state == States.REGISTERED

    client.force_login(scanner_staff())
    home = client.get(urls[0])
    assert home.status_code == 200 and activity.title in home.content.decode()
    assert "private" in home["Cache-Control"]
    scanner = client.get(urls[1]).content.decode()
    assert "vendor/jsqr-1.4.0" in scanner and 'name="code"' in scanner


# --- the card ------------------------------------------------------------------------------------


def test_the_card_shows_tier_number_points_and_progress(client, tiers, gold):
    from loyalty.models import TierRequirement

    TierRequirement.objects.create(tier=tiers["platinum"], threshold=5000)
    client.force_login(gold.user)
    me = client.get("/members/me/").content.decode()
    assert CARD_URL in me
    response = client.get(CARD_URL)
    assert response.status_code == 200
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "金卡" in page and "VIP-100200" in page and str(gold) in page
    assert "--card-bg: #c9a227; --card-fg: #000000" in page  # dark text on gold
    assert 'data-testid="card-balance"' in page
    assert "升级为白金卡" in page
    assert 'data-testid="checkin-qr"' not in page  # nothing to check in to today


def test_the_card_shows_the_qr_code_on_the_day_of_an_activity(client, tiers, gold):
    activity, _registration = registered_today(tiers["gold"], gold, title="上海品鉴会")
    later = make_activity(tiers["gold"], title="下个月的活动")
    register(later, gold)
    client.force_login(gold.user)
    page = client.get(CARD_URL).content.decode()
    assert 'data-testid="checkin-qr"' in page and "<svg" in page
    assert code_of(gold) in page or code_of(gold, timezone.now() - timedelta(seconds=1)) in page
    assert "上海品鉴会" in page and "下个月的活动" not in page
    item = client.get(activity.url).content.decode()
    assert CARD_URL in item and "出示会员卡" in item  # the activity page points to the card

    # The card fetches the next code by itself.
    data = client.get("/members/card/code/").json()
    assert membership_card.card_code_member_id(data["code"], now=timezone.now()) == gold.pk
    assert data["svg"].startswith("<svg") and 0 < data["expires_in"] <= STEP

    # Once checked in, the code is not shown any more: the member is in.
    services.activity_checkin_by_card(activity=activity, code=data["code"], actor=scanner_staff())
    page = client.get(CARD_URL).content.decode()
    assert 'data-testid="checkin-qr"' not in page and "已签到" in page


def test_the_card_is_for_admitted_members_only(client, tiers):
    response = client.get(CARD_URL)
    assert response.status_code == 302 and "/login" in response["Location"]
    assert client.get("/members/card/code/").status_code == 302
    applicant = MemberFactory(state=Member.State.APPLICANT, tier=None, joined_at=None)
    client.force_login(applicant.user)
    response = client.get(CARD_URL)
    assert response.status_code == 302 and response["Location"].endswith("/members/welcome/")
    assert client.get("/members/card/code/").status_code == 403
    suspended = MemberFactory(state=Member.State.SUSPENDED, tier=tiers["gold"])
    client.force_login(suspended.user)
    assert client.get(CARD_URL).status_code == 302
    client.force_login(StaffFactory())
    assert client.get(CARD_URL).status_code == 302


def test_card_text_reaches_wcag_aa_on_every_tier_colour(tiers):
    for tier in tiers.values():
        colour = membership_card.safe_colour(tier.badge_colour)
        foreground = membership_card.readable_foreground(colour)
        assert membership_card.contrast_ratio(colour, foreground) >= 4.5, tier.code
    # Whatever colour staff choose: every 16th step of each channel, and the hardest greys.
    steps = [*range(0, 256, 17), 0x75, 0x76, 0x77, 0x78]
    for r, g, b in itertools.product(steps, repeat=3):
        colour = f"#{r:02x}{g:02x}{b:02x}"
        foreground = membership_card.readable_foreground(colour)
        assert membership_card.contrast_ratio(colour, foreground) >= 4.5, colour
    assert membership_card.safe_colour("gold") == "#8a8a8a"  # not a colour: the default
    assert membership_card.safe_colour("#FC0") == "#ffcc00"


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_two_scanners_reading_the_same_card_at_once_check_in_once():
    """Two staff phones at one door read the same card in the same instant: one check-in, one
    award, one audit entry; the other scan is told the member is already in."""
    from tests.community.test_claims import race

    tiers = standard_tiers()  # the attendance rule (50 points) is this module's autouse fixture
    member = MemberFactory(tier=tiers["gold"])
    activity, registration = registered_today(tiers["gold"], member)
    staff = [scanner_staff(), scanner_staff()]
    code = code_of(member)

    results = race(2, lambda i: services.activity_checkin_by_card(
        activity=activity, code=code, actor=staff[i]
    ).first)  # fmt: skip
    assert sorted(outcome for _kind, outcome in results) == [False, True]
    assert PointsAccount.objects.get(member=member).balance == 50
    assert PointsEntry.objects.count() == 1
    assert AuditEntry.objects.filter(action="activity.attended").count() == 1


def test_the_cards_query_count_does_not_grow_with_todays_activities(client, tiers, gold):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    registered_today(tiers["gold"], gold)
    client.force_login(gold.user)
    client.get(CARD_URL)  # warm the kept fragments (tier ladder, settings)
    with CaptureQueriesContext(connection) as one:
        assert client.get(CARD_URL).status_code == 200
    for _ in range(4):
        registered_today(tiers["gold"], gold)
    client.get(CARD_URL)  # publishing bumped the cache generation: warm the fragments again
    with CaptureQueriesContext(connection) as five:
        page = client.get(CARD_URL).content.decode()
    assert page.count('data-testid="card-activity"') == 5
    assert len(five) == len(one), [query["sql"][:120] for query in five.captured_queries]
    print(f"membership card: {len(one)} queries")  # noqa: T201 - reported by -s
