"""Tier badges: the tier's own colour everywhere, with text every member can read (WCAG AA)."""

from __future__ import annotations

import itertools

import pytest
from django.template import Context, Template

from core.colour import AA_NORMAL_TEXT, contrast_ratio, readable_ink
from members.demo import DEMO_TIERS
from members.models import Tier
from tests.factories import MemberFactory


@pytest.mark.parametrize(("code", "colour"), [(t[0], t[3]) for t in DEMO_TIERS])
def test_every_demo_tiers_badge_text_meets_wcag_aa(code, colour):
    assert contrast_ratio(colour, readable_ink(colour)) >= AA_NORMAL_TEXT, code


def test_any_colour_staff_choose_gets_readable_text():
    steps = range(0, 256, 17)
    for r, g, b in itertools.product(steps, steps, steps):
        colour = f"#{r:02x}{g:02x}{b:02x}"
        assert contrast_ratio(colour, readable_ink(colour)) >= AA_NORMAL_TEXT, colour


def test_known_contrast_ratios():
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast_ratio("#777777", "#ffffff"), 2) == 4.48
    assert readable_ink("#c9a227") == "#000000"  # gold: dark text
    assert readable_ink("#5b5f97") == "#ffffff"  # platinum: light text


@pytest.mark.django_db
def test_badge_is_the_same_on_every_screen(client):
    tier = Tier.objects.create(code="gold", name="金卡", rank=30, badge_colour="#c9a227")
    html = Template("{% load shell %}{% tier_badge tier %}").render(Context({"tier": tier}))
    assert html == ('<span class="tier-badge" data-tier="gold" '
                    'style="--badge: #c9a227; --badge-ink: #000000">金卡</span>')  # fmt: skip
    member = MemberFactory(tier=tier)
    client.force_login(member.user)
    for url in ("/community/", "/members/me/", "/points/"):
        assert html in client.get(url).content.decode(), url


@pytest.mark.django_db
def test_badge_survives_a_colour_that_is_not_hex():
    tier = Tier(code="odd", name="特别", rank=5, badge_colour="red")
    html = Template("{% load shell %}{% tier_badge tier %}").render(Context({"tier": tier}))
    assert "--badge: #8a8a8a; --badge-ink: #000000" in html
