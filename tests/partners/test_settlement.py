"""Monthly statements: a month with known entries matches the sums worked out by hand; a
statement closes once and never changes; staff see it with a chart and export it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from core.models import AuditEntry
from loyalty import errors, services
from loyalty.models import PartnerStatement
from loyalty.selectors import reconcile
from loyalty.selectors.partners import statement_figures
from tests.factories import MemberFactory
from tests.loyalty.conftest import at, earn
from tests.partners.conftest import link_member

pytestmark = pytest.mark.django_db
MINUTES = timedelta(minutes=10)  # a capture or void well within a hold's 30 minutes


def accrue(partner, link, amount, when, key):
    return services.partner_accrue(
        partner=partner, link=link, amount=amount, idempotency_key=key, now=when
    ).award


def hold(partner, link, amount, when, key):
    return services.partner_hold(
        partner=partner, link=link, amount=amount, idempotency_key=key, now=when
    ).hold


@pytest.fixture
def march(partner, tiers, policy):
    """March 2026 for one partner, with every kind of entry (figures in the test)."""
    alice = MemberFactory(tier=tiers["regular"])
    bob = MemberFactory(tier=tiers["regular"])
    a, b = link_member(partner, alice), link_member(partner, bob)
    earn(alice, 1000, at(2026, 1, 1))  # the club's own points: not in the statement

    # Bob's partner points from March 2025 expire unused in March 2026.
    old = accrue(partner, b, 70, at(2025, 3, 1), "b-old")
    services.partner_accrual_confirm(partner=partner, award_id=old.pk, now=at(2025, 3, 4))

    first = accrue(partner, a, 1000, at(2026, 3, 2), "a1")
    services.partner_accrual_confirm(partner=partner, award_id=first.pk, now=at(2026, 3, 3))
    second = accrue(partner, a, 500, at(2026, 3, 5), "a2")
    services.partner_accrual_cancel(partner=partner, award_id=second.pk, now=at(2026, 3, 6))
    accrue(partner, a, 200, at(2026, 3, 30), "a3")  # released by the job in April

    captured = hold(partner, a, 300, at(2026, 3, 10), "h1")
    services.partner_hold_capture(
        partner=partner, hold_id=captured.pk, now=at(2026, 3, 10) + MINUTES
    )
    voided = hold(partner, a, 100, at(2026, 3, 11), "h2")
    services.partner_hold_void(partner=partner, hold_id=voided.pk, now=at(2026, 3, 11) + MINUTES)
    hold(partner, a, 50, at(2026, 3, 12), "h3")
    assert services.partner_holds_expire_due(now=at(2026, 3, 12, 13)) == 1
    returned = hold(partner, a, 200, at(2026, 3, 15), "h4")
    services.partner_hold_capture(
        partner=partner, hold_id=returned.pk, now=at(2026, 3, 15) + MINUTES
    )
    services.partner_hold_refund(partner=partner, hold_id=returned.pk, now=at(2026, 3, 20))
    services.points_expire_due(now=at(2026, 3, 20))
    late = hold(partner, a, 120, at(2026, 3, 31, 23).replace(minute=50), "h5")
    services.partner_hold_capture(partner=partner, hold_id=late.pk, now=at(2026, 4, 1, 0))

    # April: the pending accrual settles by itself, and the late purchase is returned.
    assert services.points_release_due(now=at(2026, 4, 2, 13)) == 1
    services.partner_hold_refund(partner=partner, hold_id=late.pk, now=at(2026, 4, 2))
    return partner


def test_a_month_with_known_entries_matches_by_hand(march):
    figures = statement_figures(march, date(2026, 3, 1))
    assert figures.issued == 1000  # only the confirmed accrual; the cancelled one never issued
    assert figures.redeemed == 300 + 100 + 50 + 200 + 120
    assert figures.released == 100 + 50  # the void and the expired hold
    assert figures.refunded == 200
    assert figures.expired == 70
    assert figures.net_points == 1000 - 770 + 150 + 200 == 580
    assert figures.net_amount == Decimal("5.80")  # 1 point = ¥0.01
    assert figures.entries == 3 + 2 + 1 + 5 + 3

    april = statement_figures(march, date(2026, 4, 1))
    assert (april.issued, april.redeemed, april.refunded) == (200, 0, 120)
    assert april.net_amount == Decimal("3.20")
    assert reconcile() == []


def test_a_statement_closes_once_and_never_changes(march, staff):
    statement = services.partner_statement_close(
        partner=march, month=date(2026, 3, 1), actor=staff, now=at(2026, 4, 5)
    )
    assert (statement.net_points, statement.net_amount) == (580, Decimal("5.80"))
    with pytest.raises(errors.StatementClosed):
        services.partner_statement_close(
            partner=march, month=date(2026, 3, 1), actor=staff, now=at(2026, 4, 6)
        )
    with pytest.raises(errors.StatementMonthOpen):
        services.partner_statement_close(
            partner=march, month=date(2026, 4, 1), actor=staff, now=at(2026, 4, 30)
        )
    # Staff change the rate later: the closed month keeps its own.
    march.point_value = Decimal("0.0200")
    march.save()
    assert statement_figures(march, date(2026, 3, 1)).net_amount == Decimal("5.80")
    assert statement_figures(march, date(2026, 4, 1)).net_amount == Decimal("6.40")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE loyalty_partnerstatement SET net_points = 0")
    with pytest.raises(PermissionError):
        statement.save()
    assert PartnerStatement.objects.get().net_points == 580
    assert AuditEntry.objects.filter(action="partner.statement_closed").count() == 1


def test_staff_see_the_statement_with_a_chart_and_export_it(client, march, staff):
    client.force_login(staff)
    page = client.get(f"/admin/partners/{march.pk}/statements/", {"month": "2026-03"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'data-testid="net-amount">5.80<' in html
    csv = client.get(f"/admin/partners/{march.pk}/statements/export.csv", {"month": "2026-03"})
    assert "xinghe,2026-03,1000,770,150,200,70,580,0.0100,5.80,14" in csv.content.decode()
    printed = client.get(f"/admin/partners/{march.pk}/statements/print/", {"month": "2026-03"})
    assert "5.80" in printed.content.decode()

    closed = client.post(f"/admin/partners/{march.pk}/statements/close/", {"month": "2026-03"})
    assert closed.status_code == 302
    assert PartnerStatement.objects.get().month == date(2026, 3, 1)
    listing = client.get("/admin/partners/").content.decode()
    assert "星河酒店" in listing


def test_staff_issue_a_key_whose_secret_shows_once(client, partner, staff):
    client.force_login(staff)
    issued = client.post(f"/admin/partners/{partner.pk}/keys/", {"action": "issue"})
    html = issued.content.decode()
    assert 'data-testid="secret"' in html
    secret = html.split('data-testid="secret">')[1].split("<")[0]
    assert len(secret) > 30
    later = client.get(f"/admin/partners/{partner.pk}/keys/").content.decode()
    assert secret not in later and partner.keys.get().key_id in later
    assert "no-cache" in issued["Cache-Control"] or "no-store" in issued["Cache-Control"]


def test_staff_edits_of_a_partner_are_audited_with_what_changed(client, partner, staff):
    client.force_login(staff)
    url = f"/admin/snippets/loyalty/partner/edit/{partner.pk}/"
    form = client.get(url)
    assert form.status_code == 200
    data = {
        "name": partner.name, "code": partner.code, "contact_name": "", "contact_email": "",
        "contact_phone": "", "point_value": "0.0150", "earn_limit_day": "", "earn_limit_month": "",
        "burn_limit_day": "500", "burn_limit_month": "", "accrual_pending_hours": "72",
        "hold_minutes": "30", "shared_fields": ["display_name", "tier"], "purpose": partner.purpose,
        "state": "active",
    }  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="partner.changed")
    assert entry.before == {"point_value": "0.0100", "burn_limit_day": None}
    assert entry.after == {"point_value": "0.0150", "burn_limit_day": 500}
