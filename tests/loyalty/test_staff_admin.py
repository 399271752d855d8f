"""Staff screens: permissions (403 and nothing changes), adjustments, reversals, fulfilment,
CSV export, liability, coupon pools, manual tiers and the snippet editors."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from core.models import AuditEntry
from loyalty import services
from loyalty.models import (
    CouponCode,
    EarningRule,
    LoyaltySettings,
    PointsEntry,
    Redemption,
    TierChange,
)
from tests.factories import StaffFactory
from tests.loyalty.conftest import account, earn, make_reward, staff_with

pytestmark = pytest.mark.django_db

SHIP = services.Shipping(name="王先生", phone="13800000000", address="上海市静安区 1 号")


@pytest.fixture
def funded(member):
    earn(member, 1000, timezone.now())
    return member


@pytest.fixture
def redemption(funded):
    reward = make_reward(name="帆布袋", cost=200, fulfilment="physical", stock_total=10)
    return services.reward_redeem(member=funded, reward=reward, shipping=SHIP).redemption


def state(member) -> tuple:
    return (account(member).balance, PointsEntry.objects.count(),
            list(Redemption.objects.values_list("state", flat=True)),
            TierChange.objects.count(), CouponCode.objects.count())  # fmt: skip


def test_staff_without_the_permission_get_403_and_nothing_changes(client, funded, redemption,
                                                                  tiers):  # fmt: skip
    client.force_login(staff_with())  # may enter the admin, holds no loyalty permission
    entry = PointsEntry.objects.filter(kind="earn").first()
    before = state(funded)
    gets = ["/admin/points/accounts/", f"/admin/points/accounts/{funded.pk}/",
            "/admin/points/redemptions/", "/admin/points/redemptions/export.csv",
            "/admin/points/rewards/", f"/admin/points/rewards/{redemption.reward_id}/codes/",
            "/admin/points/liability/"]  # fmt: skip
    for path in gets:
        assert client.get(path).status_code == 403, path
    posts = [
        (f"/admin/points/accounts/{funded.pk}/adjust/",
         {"amount": 500, "reason": "补偿", "idempotency_key": "k"}),
        (f"/admin/points/entries/{entry.pk}/reverse/", {"reason": "误发"}),
        (f"/admin/points/accounts/{funded.pk}/tier/",
         {"tier": tiers["gold"].pk, "until": "2099-01-01", "reason": "大使"}),
        ("/admin/points/redemptions/bulk/",
         {"action": "cancel", "ids": [redemption.pk], "reason": "x"}),
        (f"/admin/points/rewards/{redemption.reward_id}/codes/", {"codes": "A\nB"}),
    ]  # fmt: skip
    for path, data in posts:
        assert client.post(path, data).status_code == 403, path
    assert state(funded) == before


def test_viewing_is_not_adjusting(client, funded):
    client.force_login(staff_with("loyalty.view_pointsaccount"))
    page = client.get(f"/admin/points/accounts/{funded.pk}/").content.decode()
    assert 'data-testid="balance">1000<' in page and "提交调整" not in page
    response = client.post(f"/admin/points/accounts/{funded.pk}/adjust/",
                           {"amount": 5, "reason": "x", "idempotency_key": "k"})  # fmt: skip
    assert response.status_code == 403
    assert account(funded).balance == 1000


def test_adjustment_needs_a_reason_is_audited_and_acts_once(client, funded):
    operator = staff_with("loyalty.view_pointsaccount", "loyalty.adjust_points")
    client.force_login(operator)
    url = f"/admin/points/accounts/{funded.pk}/adjust/"
    client.post(url, {"amount": 300, "reason": "", "idempotency_key": "k1"})
    assert account(funded).balance == 1000
    client.post(url, {"amount": 300, "reason": "活动补发", "idempotency_key": "k1"})
    client.post(url, {"amount": 300, "reason": "活动补发", "idempotency_key": "k1"})  # resubmit
    assert account(funded).balance == 1300
    entry = PointsEntry.objects.get(kind="adjust")
    assert (entry.actor, entry.reason) == (operator, "活动补发")
    audit = AuditEntry.objects.get(action="points.adjusted")
    assert (audit.actor, audit.reason, audit.after["balance"]) == (operator, "活动补发", 1300)
    client.post(url, {"amount": -1500, "reason": "扣减", "idempotency_key": "k2"})
    assert account(funded).balance == 1300  # cannot take more than the member has


def test_the_daily_adjustment_limit_per_operator(client, funded, policy):
    policy.staff_daily_adjust_limit = 500
    policy.save()
    operator = staff_with("loyalty.view_pointsaccount", "loyalty.adjust_points")
    client.force_login(operator)
    url = f"/admin/points/accounts/{funded.pk}/adjust/"
    client.post(url, {"amount": 400, "reason": "a", "idempotency_key": "1"})
    response = client.post(url, {"amount": -200, "reason": "b", "idempotency_key": "2"},
                           follow=True)  # fmt: skip
    assert "超出今天的调整额度：额度 500，已用 400，本次 200" in response.content.decode()
    assert account(funded).balance == 1400
    boss = staff_with("loyalty.view_pointsaccount", "loyalty.adjust_points",
                      "loyalty.adjust_points_unlimited")  # fmt: skip
    client.force_login(boss)
    client.post(url, {"amount": 5000, "reason": "c", "idempotency_key": "3"})
    assert account(funded).balance == 6400


def test_reversing_an_entry(client, funded):
    client.force_login(staff_with("loyalty.view_pointsaccount", "loyalty.adjust_points"))
    earn_entry = PointsEntry.objects.get(kind="earn")
    page = client.get(f"/admin/points/accounts/{funded.pk}/").content.decode()
    assert f"/admin/points/entries/{earn_entry.pk}/reverse/" in page
    client.post(f"/admin/points/entries/{earn_entry.pk}/reverse/", {"reason": "刷分"})
    figures = account(funded)
    assert (figures.balance, figures.lifetime_earned) == (0, 0)
    response = client.post(f"/admin/points/entries/{earn_entry.pk}/reverse/", {"reason": "再次"},
                           follow=True)  # fmt: skip
    assert "已经冲正或退还过了" in response.content.decode()
    assert AuditEntry.objects.filter(action="points.reversed").count() == 1


def test_fulfilment_queue_bulk_actions(client, funded, redemption):
    second = services.reward_redeem(member=funded, reward=redemption.reward,
                                    shipping=SHIP).redemption  # fmt: skip
    client.force_login(staff_with("loyalty.view_redemption", "loyalty.change_redemption"))
    page = client.get("/admin/points/redemptions/").content.decode()
    assert "帆布袋" in page and SHIP.address in page
    client.post("/admin/points/redemptions/bulk/", {"action": "fulfil", "ids": [redemption.pk],
                                                    "note": "顺丰 SF1"})  # fmt: skip
    response = client.post("/admin/points/redemptions/bulk/",
                           {"action": "cancel", "ids": [second.pk]}, follow=True)  # fmt: skip
    assert "取消兑换需要填写原因" in response.content.decode()
    client.post("/admin/points/redemptions/bulk/",
                {"action": "cancel", "ids": [second.pk], "reason": "缺货"})  # fmt: skip
    redemption.refresh_from_db()
    second.refresh_from_db()
    assert (redemption.state, redemption.staff_note) == (Redemption.State.FULFILLED, "顺丰 SF1")
    assert second.state == Redemption.State.CANCELLED
    assert account(funded).balance == 800  # 1000 − 200 − 200 + 200 refunded
    assert AuditEntry.objects.filter(action__startswith="redemption.").count() == 2


def test_csv_export_escapes_formulas_and_opens_in_excel(client, funded):
    reward = make_reward(name="=1+1 礼品", cost=10, fulfilment="physical")
    services.reward_redeem(
        member=funded, reward=reward,
        shipping=services.Shipping(name="=HYPERLINK(\"http://evil\")", phone="+8613800000000",
                                   address="@SUM(A1)"),
    )  # fmt: skip
    client.force_login(staff_with("loyalty.view_redemption"))
    response = client.get("/admin/points/redemptions/export.csv?state=requested")
    body = response.content.decode("utf-8")
    assert response["Content-Type"].startswith("text/csv")
    assert body.startswith("\ufeff编号,")
    row = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))[1]
    assert row[4] == "'=1+1 礼品"
    assert row[8:11] == ['\'=HYPERLINK("http://evil")', "'+8613800000000", "'@SUM(A1)"]


def test_liability_view(client, funded, redemption):
    client.force_login(staff_with("loyalty.view_liability"))
    page = client.get("/admin/points/liability/").content.decode()
    assert 'data-testid="outstanding">800<' in page
    assert 'data-testid="breakage">0.0%<' in page


def test_coupon_codes_and_stock_screen(client):
    reward = make_reward(name="咖啡券", cost=10, fulfilment="coupon", stock_total=5)
    client.force_login(staff_with("loyalty.view_reward", "loyalty.add_couponcode"))
    assert "咖啡券" in client.get("/admin/points/rewards/").content.decode()
    client.post(f"/admin/points/rewards/{reward.pk}/codes/", {"codes": "A1\nA2\nA1\n"})
    assert sorted(CouponCode.objects.values_list("code", flat=True)) == ["A1", "A2"]
    assert AuditEntry.objects.filter(action="reward.codes_added").exists()


def test_manual_tier_from_the_admin(client, member, tiers):
    client.force_login(staff_with("loyalty.view_pointsaccount", "loyalty.set_tier"))
    until = (timezone.localdate() + timezone.timedelta(days=30)).isoformat()
    client.post(f"/admin/points/accounts/{member.pk}/tier/",
                {"tier": tiers["gold"].pk, "until": until, "reason": "品牌大使"})  # fmt: skip
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    change = TierChange.objects.get()
    assert (change.kind, change.reason, change.manual_until.isoformat()) == ("manual", "品牌大使",
                                                                            until)  # fmt: skip
    assert AuditEntry.objects.filter(action="loyalty.tier_manual").exists()


def test_snippet_editors_and_settings_load_for_staff(client, funded):
    client.force_login(StaffFactory())
    for path in ["/admin/snippets/loyalty/earningrule/", "/admin/snippets/loyalty/earningrule/add/",
                 "/admin/snippets/loyalty/reward/add/", "/admin/snippets/loyalty/tierrequirement/",
                 f"/admin/settings/loyalty/loyaltysettings/{LoyaltySettings.load().pk}/",
                 "/admin/points/accounts/", f"/admin/points/accounts/{funded.pk}/"]:  # fmt: skip
        assert client.get(path).status_code == 200, path
    assert "/admin/points/redemptions/" in client.get("/admin/").content.decode()  # the menu


def test_a_rule_with_awards_cannot_be_deleted_but_says_why(client, funded):
    client.force_login(StaffFactory())
    rule = EarningRule.objects.get()
    response = client.post(f"/admin/snippets/loyalty/earningrule/delete/{rule.pk}/", follow=True)
    assert response.status_code == 200
    assert "不能删除" in response.content.decode()
    assert EarningRule.objects.filter(pk=rule.pk).exists()
