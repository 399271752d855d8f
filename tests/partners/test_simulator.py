"""The partner simulator drives the real HTTP API end to end, and the member sees every step
on their points history page."""

from __future__ import annotations

import re

import pytest
import requests
from django.conf import settings
from django.test import Client

from bench.partner_simulator import PartnerApi, simulate
from loyalty.models import PartnerHold, PointsAccount
from loyalty.selectors import reconcile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_simulator_links_accrues_holds_captures_voids_and_refunds(
    live_server, partner, partner_client, member
):
    browser = requests.Session()
    signed_in = Client()
    signed_in.force_login(member.user)
    browser.cookies.set(
        settings.SESSION_COOKIE_NAME, signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    )

    def confirm(code: str, link_url: str) -> None:
        """The member opens the partner's link on the club's site and agrees."""
        assert link_url.endswith(f"code={code}")
        page = browser.get(f"{live_server.url}/members/me/partners/link/", params={"code": code})
        assert page.status_code == 200 and "星河酒店" in page.text
        hidden = r'name="(csrfmiddlewaretoken|code|consent_sha256)" value="([^"]*)"'
        fields = dict(re.findall(hidden, page.text))
        done = browser.post(f"{live_server.url}/members/me/partners/link/",
                            data={**fields, "confirm": "1"}, allow_redirects=False)  # fmt: skip
        assert done.status_code == 302

    api = PartnerApi(live_server.url, partner_client.key_id, partner_client.secret)
    try:
        result = simulate(api, confirm=confirm, wait_seconds=10, log=lambda line: None)
    finally:
        api.session.close()  # a kept-alive connection would keep a server thread's database

    assert result["member"]["display_name"] == member.display_name
    assert result["accrual"]["state"] == "approved"
    assert result["captured_then_refunded"]["state"] == "refunded"
    assert result["voided"]["state"] == "voided"
    assert PointsAccount.objects.get(member=member).balance == 500
    assert sorted(PartnerHold.objects.values_list("state", flat=True)) == ["refunded", "voided"]

    history = browser.get(f"{live_server.url}/points/history/").text
    for line in (
        "合作伙伴积分：星河酒店",
        "合作伙伴消费：星河酒店",
        "合作伙伴撤销，积分退回：星河酒店",
        "合作伙伴退款，积分退回：星河酒店",
    ):
        assert line in history, line
    assert "-200" in history and "-100" in history and "+500" in history
    partners_page = browser.get(f"{live_server.url}/members/me/partners/").text
    browser.close()
    assert "星河酒店" in partners_page and "解除关联" in partners_page
    assert reconcile() == []
