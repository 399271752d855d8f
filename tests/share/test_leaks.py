"""The community leak matrix, on the share surfaces: text, card, landing page and its card.

Every demo item carries ``机密-<slug>`` after its paywall cut. Whatever a member may read in full,
nothing they share of it — the proposed text, the picture, the public landing page — carries more
than the public teaser.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client

from community.models import GatedPage
from members.models import Member
from share import services
from share.card import CardContent, render_card
from share.models import Share
from share.subjects import NotShareable, subject_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything_shareable(club):
    GatedPage.objects.update(shareable=True)
    platinum = MemberFactory(tier=club["tiers"]["platinum"], display_name="白金分享者")
    pages = {page.slug: page for page in GatedPage.objects.all()}
    from community.models_participation import Registration

    for page in pages.values():
        if hasattr(page.specific, "registrations"):
            Registration.objects.create(activity=page.specific, member=platinum, state="registered")
    return platinum, pages


def test_share_text_and_card_carry_only_the_teaser(everything_shareable):
    member, pages = everything_shareable
    for slug, page in pages.items():
        if page.hide_when_locked:
            with pytest.raises(NotShareable):
                subject_for(member, kind="item", ref=page.pk)
            continue
        subject = subject_for(member, kind="item", ref=page.pk)
        text, _token, link = services.draft_text(member=member, subject=subject)
        assert "机密" not in text, slug
        name = services.card_for(member=member, subject=subject, link=link, show_name=True)
        with default_storage.open(name, "rb") as handle:
            card = handle.read()
        teaser_only = CardContent(
            title=page.title, summary=page.summary, link=link, tier_label=subject.tier_label,
            kind_label=subject.kind_label, member_name="白金分享者", member_avatar=None,
            cover_image=services._image_bytes(page.cover_image), brand=settings.CLUB_NAME,
        )  # fmt: skip
        assert card == render_card(teaser_only), slug


def test_landing_pages_show_outsiders_the_teaser_at_most(everything_shareable):
    member, pages = everything_shareable
    hidden = [page for page in pages.values() if page.hide_when_locked]
    assert hidden, "the demo has an item hidden from outsiders"
    for page in hidden:  # shareable before staff hid it: shared while it was a teaser
        GatedPage.objects.filter(pk=page.pk).update(hide_when_locked=False)
    for slug, page in pages.items():
        subject = subject_for(member, kind="item", ref=page.pk)
        GatedPage.objects.filter(pk=page.pk).update(hide_when_locked=page.hide_when_locked)
        text, _token, _link = services.draft_text(member=member, subject=subject)
        share = services.share_confirm(
            member=member, subject=subject, text=text, with_card=True, show_name=True,
            rip="203.0.113.1", confirmation_key=f"leak-{slug}",
        )  # fmt: skip
        Share.objects.filter(pk=share.pk).update(state="sent", sent_at=share.created_at)
        for viewer in ("outsider", "applicant", "regular"):
            client = Client()
            if viewer != "outsider":
                state = Member.State.APPLICANT if viewer == "applicant" else Member.State.MEMBER
                client.force_login(MemberFactory(state=state, tier=None).user)
            response = client.get(f"/s/{share.token}/")
            assert response.status_code == 200, (slug, viewer)
            html = response.content.decode()
            assert "机密" not in html, (slug, viewer)
            if page.hide_when_locked:
                # An item hidden from outsiders is not even named on its landing page.
                assert page.title not in html, (slug, viewer)
                assert Client().get(f"/s/{share.token}/card.jpg").status_code == 404
            else:
                assert page.title in html, (slug, viewer)
