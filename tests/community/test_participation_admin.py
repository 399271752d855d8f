"""Staff screens of claims and registrations: counts, CSV, code pool, check-in, permissions."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from community.models import (
    ItemViewCount,
    OfferCode,
    OfferInventory,
    Registration,
)
from community.participation import services
from core.models import AuditEntry
from tests.community.test_claims import claim, make_offer
from tests.community.test_registrations import make_activity, register
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

ADMIN = "/admin/community/participation/"


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    """These tests act as staff who already passed TOTP (covered by the members tests)."""
    settings.STAFF_REQUIRE_MFA = False


def staff_with(*perms: str):
    """A staff user who may enter the admin and holds exactly ``perms`` (``app.codename``)."""
    user = UserFactory(is_staff=True)
    for perm in ("wagtailadmin.access_admin", *perms):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def staff(client, tiers):
    user = StaffFactory(username="events-staff")
    client.force_login(user)
    return user


@pytest.fixture
def items(tiers):
    offer = make_offer(tiers["gold"], codes=["POOL-1", "POOL-2", "POOL-3"], title="金卡礼券")
    activity = make_activity(tiers["gold"], capacity=1, title="上海品鉴会")
    return offer, activity


# --- permissions --------------------------------------------------------------------------------


def test_every_screen_answers_403_without_permission(client, items):
    offer, activity = items
    registration = register(activity, MemberFactory(tier=offer.min_tier))
    client.force_login(staff_with())
    gets = [ADMIN, f"{ADMIN}offers/{offer.pk}/", f"{ADMIN}offers/{offer.pk}/claims.csv",
            f"{ADMIN}activities/{activity.pk}/",
            f"{ADMIN}activities/{activity.pk}/registrations.csv"]  # fmt: skip
    posts = [f"{ADMIN}offers/{offer.pk}/codes/",
             f"{ADMIN}registrations/{registration.pk}/checkin/"]  # fmt: skip
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, {"codes": "X", "hours": 2}).status_code == 403, url
    assert OfferCode.objects.filter(offer=offer).count() == 3
    assert Registration.objects.get(pk=registration.pk).state == "registered"


def test_partial_permissions_open_only_their_part(client, items):
    offer, activity = items
    registration = register(activity, MemberFactory(tier=offer.min_tier))
    client.force_login(staff_with("community.view_registration"))
    assert client.get(f"{ADMIN}activities/{activity.pk}/").status_code == 200
    assert client.get(f"{ADMIN}activities/{activity.pk}/registrations.csv").status_code == 200
    assert client.post(f"{ADMIN}registrations/{registration.pk}/checkin/").status_code == 403
    assert client.get(f"{ADMIN}offers/{offer.pk}/").status_code == 403
    overview = html_of(client.get(ADMIN))
    assert "上海品鉴会" in overview and "金卡礼券" not in overview

    client.force_login(staff_with("community.add_offercode"))
    detail = html_of(client.get(f"{ADMIN}offers/{offer.pk}/"))
    assert "添加到券码池" in detail and "领取记录" not in detail
    assert client.get(f"{ADMIN}offers/{offer.pk}/claims.csv").status_code == 403


def test_menu_shows_the_screen_to_staff_who_may_use_it(client, items):
    client.force_login(staff_with("community.view_offerclaim"))
    assert ADMIN in html_of(client.get("/admin/"))
    client.force_login(staff_with())
    assert ADMIN not in html_of(client.get("/admin/"))


def test_non_staff_members_cannot_enter(client, items):
    client.force_login(MemberFactory().user)
    assert client.get(ADMIN).status_code in (302, 403)


# --- counts -------------------------------------------------------------------------------------


def test_views_are_counted_by_tier(client, items, tiers):
    offer, activity = items
    for tier, times in (("gold", 2), ("silver", 1), ("platinum", 1)):
        client.force_login(MemberFactory(tier=tiers[tier]).user)
        for _ in range(times):
            assert client.get(offer.url).status_code == 200
    client.logout()
    client.get(offer.url)
    client.force_login(StaffFactory())
    client.get(offer.url)  # staff views are not counted
    services.item_views_flush()
    counts = dict(ItemViewCount.objects.filter(page=offer).values_list("tier_code", "count"))
    assert counts == {"gold": 2, "silver": 1, "platinum": 1, "outsider": 1}

    detail = html_of(client.get(f"{ADMIN}offers/{offer.pk}/"))
    assert "银卡 1 · 金卡 2 · 白金卡 1 · 访客 1" in detail
    overview = html_of(client.get(ADMIN))
    assert "银卡 1 · 金卡 2 · 白金卡 1 · 访客 1" in overview


def test_view_count_upsert_adds_up(items, tiers):
    from members.selectors import ViewerStatus

    offer, _activity = items
    gold = ViewerStatus("member", tier=tiers["gold"])
    for _ in range(3):
        services.item_view_record(page=offer, viewer=gold)
    services.item_view_record(page=offer, viewer=ViewerStatus("applicant"))
    assert services.item_views_flush() == 4
    rows = ItemViewCount.objects.filter(page=offer, day=timezone.localdate())
    assert dict(rows.values_list("tier_code", "count")) == {"gold": 3, "applicant": 1}
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemViewCount.objects.create(page=offer, tier_code="gold", day=timezone.localdate())


def test_overview_and_details_show_claims_registrations_waitlist_attended(
    client, staff, items, tiers
):
    offer, activity = items
    claim(offer, MemberFactory(tier=tiers["gold"]))
    first, second, third = (MemberFactory(tier=tiers["gold"]) for _ in range(3))
    registration = register(activity, first)
    register(activity, second)
    register(activity, third)
    services.registration_checkin(registration=registration, method="staff", actor=staff)

    overview = html_of(client.get(ADMIN))
    assert "金卡礼券" in overview and "1 / 3" in overview
    detail = html_of(client.get(f"{ADMIN}activities/{activity.pk}/"))
    assert 'data-testid="count-attended">1<' in detail
    assert 'data-testid="count-waitlisted">2<' in detail
    assert "第 1 位" in detail and "第 2 位" in detail
    offer_detail = html_of(client.get(f"{ADMIN}offers/{offer.pk}/"))
    assert "共 3 个，未领取 2 个，已领取 1 个" in offer_detail
    assert "POOL-1" not in offer_detail  # codes are never shown in the admin pages


def test_overview_query_count_does_not_grow_with_items(client, staff, tiers):
    from django.test.utils import CaptureQueriesContext

    make_offer(tiers["gold"], codes=1)
    make_activity(tiers["gold"])
    client.get(ADMIN)
    with CaptureQueriesContext(connection) as few:
        client.get(ADMIN)
    for _ in range(4):
        make_offer(tiers["gold"], codes=1)
        make_activity(tiers["gold"])
    with CaptureQueriesContext(connection) as many:
        client.get(ADMIN)
    assert len(many) == len(few)


# --- CSV ----------------------------------------------------------------------------------------


def test_claim_csv_escapes_formula_cells(client, staff, items, tiers):
    offer, _activity = items
    sneaky = MemberFactory(tier=tiers["gold"], display_name="=HYPERLINK(\"http://x\")",
                           weibo_screen_name="@attacker", membership_number="+8613800")  # fmt: skip
    claim(offer, sneaky)
    rows = csv_rows(client.get(f"{ADMIN}offers/{offer.pk}/claims.csv"))
    assert rows[0][:5] == ["会员", "会员卡号", "微博昵称", "等级", "券码"]
    assert rows[1][:5] == ['\'=HYPERLINK("http://x")', "'+8613800", "'@attacker", "金卡", "POOL-1"]


def test_registration_csv_lists_state_and_waitlist_position(client, staff, items, tiers):
    _offer, activity = items
    register(activity, MemberFactory(tier=tiers["gold"], display_name="-先到"))
    register(activity, MemberFactory(tier=tiers["gold"], display_name="后到"))
    rows = csv_rows(client.get(f"{ADMIN}activities/{activity.pk}/registrations.csv"))
    assert [row[0] for row in rows[1:]] == ["'-先到", "后到"]
    assert [(row[4], row[5]) for row in rows[1:]] == [("已报名", ""), ("候补中", "1")]


# --- code pool, check-in, check-in code ---------------------------------------------------------


def test_staff_upload_codes_from_a_textarea_and_a_csv_file(client, staff, items):
    offer, _activity = items
    url = f"{ADMIN}offers/{offer.pk}/codes/"
    response = client.post(url, {"codes": "NEW-1\nNEW-2\nPOOL-1\n"}, follow=True)
    assert "已添加 2 个券码，跳过重复 1 个；券码池共 5 个。" in html_of(response)
    upload = SimpleUploadedFile("codes.csv", "\ufeffcode\nFILE-1,备注\nFILE-2\n".encode())
    response = client.post(url, {"codes": "", "file": upload}, follow=True)
    assert "已添加 2 个券码" in html_of(response)  # the header row is not a code
    assert OfferCode.objects.filter(offer=offer).count() == 7
    assert OfferInventory.objects.get(offer=offer).total == 7
    assert AuditEntry.objects.filter(action="offer.codes_added", actor=staff).count() == 2
    response = client.post(url, {"codes": "   "}, follow=True)
    assert "请填写或上传至少一个券码" in html_of(response)


def test_staff_check_in_from_the_admin(client, staff, items, tiers):
    _offer, activity = items
    registration = register(activity, MemberFactory(tier=tiers["gold"]))
    detail = html_of(client.get(f"{ADMIN}activities/{activity.pk}/"))
    assert f"{ADMIN}registrations/{registration.pk}/checkin/" in detail
    response = client.post(f"{ADMIN}registrations/{registration.pk}/checkin/", follow=True)
    assert "已签到" in html_of(response)
    registration.refresh_from_db()
    assert (registration.state, registration.checkin_method) == ("attended", "staff")
    assert registration.checked_in_by == staff
    client.post(f"{ADMIN}registrations/{registration.pk}/checkin/")
    entries = AuditEntry.objects.filter(action="activity.attended")
    assert entries.count() == 1 and entries.get().actor == staff


def test_staff_cannot_check_in_a_waitlisted_member(client, staff, items, tiers):
    _offer, activity = items
    register(activity, MemberFactory(tier=tiers["gold"]))
    waiting = register(activity, MemberFactory(tier=tiers["gold"]))
    response = client.post(f"{ADMIN}registrations/{waiting.pk}/checkin/", follow=True)
    assert "没有有效的报名" in html_of(response)
    assert Registration.objects.get(pk=waiting.pk).state == "waitlisted"


def test_activity_screen_leads_to_the_card_scanner(client, staff, items):
    _offer, activity = items
    detail = html_of(client.get(f"{ADMIN}activities/{activity.pk}/"))
    assert f"/community/checkin/{activity.pk}/" in detail
    assert "生成签到码" not in detail  # no event-wide code any more
    assert "/community/checkin/" in html_of(client.get(ADMIN))  # the overview leads there too


def test_one_community_section_in_the_menu(client, staff, items):
    home = html_of(client.get("/admin/"))
    assert ADMIN in home
    assert home.count("community-admin") == 1  # other community screens share the section
