"""The demo community has what a newcomer should see: items, claims ready, a held comment."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from community.models import GatedPage, OfferCode
from community.models_interaction import Comment
from members.models import Member

pytestmark = pytest.mark.django_db


def test_demo_community_includes_a_comment_held_for_review(client):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    held = Comment.objects.get(state="held")
    assert "代购" in held.body
    assert Comment.objects.filter(state="published").count() == 3
    assert OfferCode.objects.filter(offer__slug="silver-coupon").count() == 20

    platinum = Member.objects.get(weibo_uid="1001000011")
    client.force_login(platinum.user)
    page = GatedPage.objects.get(slug="behind-the-collection")
    html = client.get(page.url).content.decode()
    assert "设计师的手稿太美了" in html
    assert held.body not in html  # held comments are visible only to their author and staff
