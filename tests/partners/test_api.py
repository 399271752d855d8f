"""The partner API as a partner and the member see it: signing, idempotency, the operations,
refusals, and the member's pages."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from loyalty import services
from loyalty.models import (
    PartnerHold,
    PartnerLink,
    PendingAward,
    PointsAccount,
    PointsEntry,
)
from loyalty.selectors import reconcile
from members.models import Member
from partners.models import PartnerRequest
from partners.services import partner_key_revoke, partner_key_rotate
from tests.factories import MemberFactory
from tests.loyalty.conftest import earn
from tests.partners.conftest import API, PartnerClient, link_member, make_partner

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    return PointsAccount.objects.get(member=member).balance


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- Linking ------------------------------------------------------------------------------------


def test_a_member_links_with_the_partners_code_and_sees_what_is_shared(partner_client, member):
    created = partner_client.post("/link-requests", {"partner_reference": "GUEST-9"}, key="lr-1")
    assert created.status_code == 201, created.content
    code = created.json()["code"]
    assert created.json()["link_url"].endswith(f"/members/me/partners/link/?code={code}")

    browser = Client()
    browser.force_login(member.user)
    page = browser.get("/members/me/partners/link/", {"code": code})
    text = page.content.decode()
    assert "星河酒店" in text and "昵称" in text and "会员等级" in text
    assert "可用积分" not in text.split('data-testid="partner-consent"')[1].split("</div>")[0]
    confirmed = browser.post(
        "/members/me/partners/link/",
        {"code": code, "consent_sha256": page.context["consent_sha256"], "confirm": "1"},
    )
    assert confirmed.status_code == 302

    status = partner_client.get(f"/link-requests/{created.json()['request_id']}").json()
    assert status["state"] == "confirmed" and status["code"] is None
    looked_up = partner_client.get(f"/members/{status['member_id']}")
    assert looked_up.status_code == 200
    assert looked_up.json() == {
        "member_id": status["member_id"],
        "partner_reference": "GUEST-9",
        "linked_at": looked_up.json()["linked_at"],
        "display_name": member.display_name,
        "tier": member.tier.name,
        "balance": None,  # not named in the consent
    }
    link = PartnerLink.objects.get(member=member)
    assert link.linked_ip and "星河酒店" in link.consent_text
    assert AuditEntry.objects.filter(action="partner.linked").count() == 1
    # The code works once.
    again = browser.get("/members/me/partners/link/", {"code": code}, follow=True)
    assert "关联码不正确或已过期" in again.content.decode()


def test_the_member_page_lists_partners_their_activity_and_unlinks(partner_client, linked):
    member = linked.member
    earn(member, 500, timezone.now() - timedelta(days=1))
    held = partner_client.post(f"/members/{linked.public_id}/holds", {"amount": 200}, key="h1")
    assert held.status_code == 201
    browser = Client()
    browser.force_login(member.user)
    page = browser.get("/members/me/partners/").content.decode()
    assert "星河酒店" in page and "-200" in page and "解除关联" in page

    browser.post(f"/members/me/partners/{linked.pk}/unlink/")

    assert balance(member) == 500  # the open hold came back at once
    assert PartnerHold.objects.get().state == PartnerHold.State.VOIDED
    refused = partner_client.post(f"/members/{linked.public_id}/holds", {"amount": 1}, key="h2")
    assert refused.status_code == 403 and error_code(refused) == "not_linked"
    assert partner_client.get(f"/members/{linked.public_id}").status_code == 403
    assert "已于" in browser.get("/members/me/partners/").content.decode()
    assert reconcile() == []


def test_after_unlinking_every_call_about_the_member_is_refused(partner_client, linked):
    member, mid = linked.member, linked.public_id
    earn(member, 500, timezone.now() - timedelta(days=1))
    accrual = partner_client.post(f"/members/{mid}/accruals", {"amount": 50}, key="a").json()
    hold = partner_client.post(f"/members/{mid}/holds", {"amount": 100}, key="h").json()
    partner_client.post(f"/holds/{hold['hold_id']}/capture", key="c")

    services.partner_unlink(member=member, link=linked, ip=None)

    paths = [f"/holds/{hold['hold_id']}/refund", f"/accruals/{accrual['accrual_id']}/confirm",
             f"/accruals/{accrual['accrual_id']}/cancel"]  # fmt: skip
    for number, path in enumerate(paths):
        refused = partner_client.post(path, key=f"after-{number}")
        assert refused.status_code == 403 and error_code(refused) == "not_linked", path
    # Linking again is a new consent: the partner may act again, on its earlier holds too.
    link_member(linked.partner, member)
    refunded = partner_client.post(f"/holds/{hold['hold_id']}/refund", key="refund-again")
    assert refunded.json()["state"] == "refunded"
    assert balance(member) == 500


# --- The operations -----------------------------------------------------------------------------


def test_accrue_confirm_hold_capture_refund_and_void_on_one_ledger(partner_client, linked):
    member, mid = linked.member, linked.public_id
    accrual = partner_client.post(
        f"/members/{mid}/accruals", {"amount": 800, "reference": "BK-1"}, key="a1"
    )
    assert accrual.status_code == 201 and accrual.json()["state"] == "pending"
    assert balance(member) == 0
    assert PointsAccount.objects.get(member=member).pending == 800

    confirmed = partner_client.post(f"/accruals/{accrual.json()['accrual_id']}/confirm", key="c1")
    assert confirmed.json()["state"] == "approved"
    assert balance(member) == 800
    # Partner points do not count toward tiers unless staff say so.
    assert PointsAccount.objects.get(member=member).lifetime_earned == 0

    hold = partner_client.post(f"/members/{mid}/holds", {"amount": 300, "reference": "PO"}, key="h")
    assert hold.status_code == 201 and hold.json()["state"] == "held"
    assert balance(member) == 500  # reserved at once, like a redemption
    hold_id = hold.json()["hold_id"]
    assert partner_client.post(f"/holds/{hold_id}/capture", key="cap").json()["state"] == "captured"
    refunded = partner_client.post(f"/holds/{hold_id}/refund", key="ref")
    assert refunded.json()["state"] == "refunded"
    assert balance(member) == 800

    other = partner_client.post(f"/members/{mid}/holds", {"amount": 100}, key="h-2").json()
    voided = partner_client.post(f"/holds/{other['hold_id']}/void", key="v")
    assert voided.json()["state"] == "voided" and balance(member) == 800
    again = partner_client.post(f"/holds/{other['hold_id']}/capture", key="cap-2")
    assert again.status_code == 409 and error_code(again) == "hold_state_conflict"

    entries = PointsEntry.objects.filter(account__member=member, partner=linked.partner)
    assert sorted(entries.values_list("kind", flat=True)) == sorted(
        ["earn", "approve", "approve", "redeem", "refund", "redeem", "refund"]
    )
    history = Client()
    history.force_login(member.user)
    page = history.get("/points/history/").content.decode()
    assert page.count("星河酒店") >= 5
    assert reconcile() == []


def test_a_partner_that_counts_for_tiers_earns_qualifying_points(partner_client, linked):
    linked.partner.counts_for_tier = True
    linked.partner.save()
    accrual = partner_client.post(f"/members/{linked.public_id}/accruals", {"amount": 50}, key="a")
    partner_client.post(f"/accruals/{accrual.json()['accrual_id']}/confirm", key="c")
    assert PointsAccount.objects.get(member=linked.member).lifetime_earned == 50


def test_pending_accruals_settle_after_the_delay_and_holds_expire(partner_client, linked):
    member = linked.member
    partner_client.post(f"/members/{linked.public_id}/accruals", {"amount": 400}, key="a")
    later = timezone.now() + timedelta(hours=73)
    assert services.points_release_due(now=later) == 1
    assert balance(member) == 400

    hold = partner_client.post(f"/members/{linked.public_id}/holds", {"amount": 150}, key="h")
    assert balance(member) == 250
    assert services.partner_holds_expire_due() == 0  # not yet
    assert services.partner_holds_expire_due(now=timezone.now() + timedelta(minutes=31)) == 1
    assert balance(member) == 400
    late = partner_client.post(f"/holds/{hold.json()['hold_id']}/capture", key="cap")
    assert late.status_code == 409 and error_code(late) == "hold_state_conflict"
    assert reconcile() == []


def test_limits_balance_and_suspension_are_refused_with_stable_codes(partner_client, linked):
    partner, member = linked.partner, linked.member
    partner.burn_limit_day = 100
    partner.save()
    earn(member, 300, timezone.now() - timedelta(days=1))
    mid = linked.public_id

    over = partner_client.post(f"/members/{mid}/holds", {"amount": 101}, key="1")
    assert over.status_code == 409 and error_code(over) == "partner_limit_exceeded"
    partner.burn_limit_day = None
    partner.save()
    short = partner_client.post(f"/members/{mid}/holds", {"amount": 301}, key="2")
    assert short.status_code == 409 and error_code(short) == "insufficient_points"

    Member.objects.filter(pk=member.pk).update(state=Member.State.SUSPENDED)
    suspended = partner_client.post(f"/members/{mid}/accruals", {"amount": 1}, key="3")
    assert suspended.status_code == 403 and error_code(suspended) == "account_suspended"
    assert partner_client.get(f"/members/{mid}").status_code == 403

    partner.state = partner.State.SUSPENDED
    partner.save()
    stopped = partner_client.get(f"/members/{mid}")
    assert stopped.status_code == 403 and error_code(stopped) == "partner_suspended"


def test_another_partner_cannot_reach_this_partners_members_or_holds(partner_client, linked, staff):
    from partners.services import partner_key_issue

    other = make_partner(name="云端精品", code="yunduan")
    key, secret = partner_key_issue(partner=other, actor=staff)
    stranger = PartnerClient(key.key_id, secret)
    earn(linked.member, 100, timezone.now() - timedelta(days=1))
    hold = partner_client.post(f"/members/{linked.public_id}/holds", {"amount": 10}, key="h")
    assert stranger.get(f"/members/{linked.public_id}").status_code == 404
    assert stranger.post(f"/holds/{hold.json()['hold_id']}/capture", key="x").status_code == 404


# --- Signing, replay, keys ----------------------------------------------------------------------


def test_signatures_timestamps_and_nonces_are_checked(partner_client, linked):
    path = f"/members/{linked.public_id}"
    assert partner_client.get(path).status_code == 200

    tampered = partner_client.headers("GET", API + path)
    tampered["X-Signature"] = "0" * 64
    response = partner_client.client.get(API + path, headers=tampered)
    assert response.status_code == 401 and error_code(response) == "invalid_signature"

    stale = partner_client.headers("GET", API + path)
    from partners import signing

    old = signing.sign_headers(
        key_id=partner_client.key_id, secret=partner_client.secret, method="GET",
        path=API + path, timestamp=int(time.time()) - 301,
    )  # fmt: skip
    response = partner_client.client.get(API + path, headers=old)
    assert response.status_code == 401 and error_code(response) == "timestamp_skew"

    assert partner_client.client.get(API + path, headers=stale).status_code == 200
    replay = partner_client.client.get(API + path, headers=stale)
    assert replay.status_code == 401 and error_code(replay) == "nonce_reused"

    unsigned = Client().get(API + path)
    assert unsigned.status_code == 401 and error_code(unsigned) == "missing_signature"


def test_a_revoked_key_stops_at_once_and_rotation_overlaps(partner_client, linked, staff):
    path = f"/members/{linked.public_id}"
    from partners.models import PartnerKey

    old = PartnerKey.objects.get(key_id=partner_client.key_id)
    new_key, new_secret = partner_key_rotate(
        partner=linked.partner, actor=staff, overlap=timedelta(hours=24)
    )
    rotated = PartnerClient(new_key.key_id, new_secret)
    assert partner_client.get(path).status_code == 200  # the old key works during the overlap
    assert rotated.get(path).status_code == 200

    partner_key_revoke(key=old, actor=staff)
    response = partner_client.get(path)
    assert response.status_code == 401 and error_code(response) == "key_revoked"

    immediate, secret = partner_key_rotate(partner=linked.partner, actor=staff, overlap=timedelta())
    assert rotated.get(path).status_code == 401
    assert PartnerClient(immediate.key_id, secret).get(path).status_code == 200
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"partner.key_issued", "partner.key_rotated", "partner.key_revoked"} <= actions


def test_rate_limit_per_partner(partner_client, linked, settings):
    settings.PARTNER_API_RATE_LIMIT = 3
    codes = [partner_client.get(f"/members/{linked.public_id}").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


# --- Idempotency --------------------------------------------------------------------------------


def test_idempotency_key_replays_the_answer_and_refuses_another_body(partner_client, linked):
    earn(linked.member, 500, timezone.now() - timedelta(days=1))
    path = f"/members/{linked.public_id}/holds"
    first = partner_client.post(path, {"amount": 100}, key="order-7")
    second = partner_client.post(path, {"amount": 100}, key="order-7")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert PartnerHold.objects.count() == 1 and balance(linked.member) == 400

    different = partner_client.post(path, {"amount": 200}, key="order-7")
    assert different.status_code == 409 and error_code(different) == "idempotency_conflict"

    missing = partner_client.post(path, {"amount": 100})
    assert missing.status_code == 422 and error_code(missing) == "validation_error"
    assert PartnerRequest.objects.count() == 1

    # A refusal is an answer too: the same key gets the same refusal.
    short = partner_client.post(path, {"amount": 10_000}, key="big")
    earn(linked.member, 20_000, timezone.now() - timedelta(hours=1), key="more")
    assert partner_client.post(path, {"amount": 10_000}, key="big").json() == short.json()


def test_accruals_from_a_pending_award_show_in_the_member_export(partner_client, linked):
    from loyalty.privacy import partner_activity, partner_links

    partner_client.post(f"/members/{linked.public_id}/accruals", {"amount": 20}, key="a")
    links = partner_links(linked.member)
    assert links[0]["partner"] == "星河酒店" and links[0]["state"] == "linked"
    assert "星河酒店" in links[0]["consent_text"]
    activity = partner_activity(linked.member)
    assert [(row["partner"], row["amount"]) for row in activity] == [("星河酒店", 20)]
    assert PendingAward.objects.get().partner == linked.partner


def test_a_second_member_linking_gets_their_own_id(partner, partner_client):
    first = link_member(partner, MemberFactory())
    second = link_member(partner, MemberFactory())
    assert first.public_id != second.public_id


def test_text_with_a_nul_character_is_refused_as_invalid_input_and_changes_nothing(
    partner_client, linked
):
    """PostgreSQL text cannot hold U+0000: such a body is a clear 422, never a server error."""
    response = partner_client.post(
        "/link-requests", {"partner_reference": "till-\u0000-7"}, key="nul"
    )
    assert response.status_code == 422 and error_code(response) == "validation_error"
    accrual = partner_client.post(
        f"/members/{linked.public_id}/accruals", {"amount": 5, "reference": "\u0000"}, key="nul2"
    )
    assert accrual.status_code == 422
    assert not PendingAward.objects.filter(account__member=linked.member).exists()
