"""The leak matrix: every gated demo item × every persona × every surface.

The expected access is written out here by hand from the demo items' rules, independently of
the gate, and every surface must agree with it: text after the paywall cut (marked
``机密-<slug>``), gated images and hidden items' titles never reach a viewer without access,
and viewers with access see all of it.
"""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from wagtail.images import get_image_model

from community import demo
from community.models import GatedPage
from community.views import member_feed_token
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

F, T, H = "full", "teaser", "hidden"
PERSONAS = ["outsider", "applicant", "suspended", "regular", "silver", "gold", "platinum", "staff"]
#                           outsider applicant suspended regular silver gold platinum staff
EXPECTED = {
    "welcome":                [F, F, F, F, F, F, F, F],
    "behind-the-collection":  [T, T, T, F, F, F, F, F],
    "milan-backstage":        [T, T, T, T, T, F, F, F],
    "platinum-watch-preview": [H, H, H, H, H, H, F, F],
    "silver-coupon":          [T, T, T, T, F, F, F, F],
    "presale-early-access":   [T, T, T, T, T, T, F, F],  # platinum early access for 48 h
    "milan-trip":             [T, T, T, T, T, F, F, F],
    "shanghai-tasting":       [T, T, T, F, F, F, F, F],
}  # fmt: skip
GATED = [slug for slug in EXPECTED if slug != "welcome"]


def expected(slug: str, persona: str) -> str:
    return EXPECTED[slug][PERSONAS.index(persona)]


@pytest.fixture
def world(db):
    tiers = standard_tiers()
    demo.load()
    clients = {"outsider": Client()}
    members: dict[str, Member] = {}
    for persona in PERSONAS[1:]:
        client = Client()
        if persona == "staff":
            client.force_login(StaffFactory())
        else:
            special = {"applicant": Member.State.APPLICANT, "suspended": Member.State.SUSPENDED}
            state = special.get(persona, Member.State.MEMBER)
            member = MemberFactory(state=state, tier=tiers.get(persona, tiers["gold"]))
            members[persona] = member
            client.force_login(member.user)
        clients[persona] = client
    pages = {page.slug: page.specific for page in GatedPage.objects.all()}
    assert set(pages) == set(EXPECTED)
    return {"clients": clients, "members": members, "pages": pages}


def html(response) -> str:
    return response.content.decode()


def test_page_serving(world):
    for persona in PERSONAS:
        client = world["clients"][persona]
        for slug, page in world["pages"].items():
            response = client.get(page.url)
            want = expected(slug, persona)
            if want == H:
                assert response.status_code == 404, (slug, persona)
                continue
            assert response.status_code == 200, (slug, persona)
            body = html(response)
            assert page.title in body
            assert (demo.secret_marker(slug) in body) == (want == F), (slug, persona)
            if want == T:
                assert 'data-testid="paywall"' in body
                # description and og: meta come from the public summary only
                assert f'<meta property="og:description" content="{page.summary}">' in body


def test_feed_listing(world):
    for persona in PERSONAS:
        body = html(world["clients"][persona].get("/community/"))
        for slug, page in world["pages"].items():
            assert (page.title in body) == (expected(slug, persona) != H), (slug, persona)
            assert demo.secret_marker(slug) not in body  # listings show teasers only


def test_search_shows_only_fully_readable_items(world):
    for persona in PERSONAS:
        # "完整细节" appears only in the text after each item's cut.
        body = html(world["clients"][persona].get("/search/", {"q": "完整细节"}))
        for slug in GATED:
            page = world["pages"][slug]
            assert (page.title in body) == (expected(slug, persona) == F), (slug, persona)
            assert demo.secret_marker(slug) not in body


def test_json_api(world):
    for persona in PERSONAS:
        response = world["clients"][persona].get("/api/items/")
        body = html(response)
        data = response.json()
        titles = {item["title"]: item for item in data["items"]}
        for slug, page in world["pages"].items():
            want = expected(slug, persona)
            assert (page.title in titles) == (want != H), (slug, persona)
            if slug in GATED:
                assert (demo.secret_marker(slug) in body) == (want == F), (slug, persona)


def test_public_feed_and_sitemap_carry_only_public_text(world):
    client = world["clients"]["outsider"]
    feed = html(client.get("/feed/"))
    sitemap = html(client.get("/sitemap.xml"))
    for slug in GATED:
        page = world["pages"][slug]
        assert demo.secret_marker(slug) not in feed
        assert (page.url in sitemap) == (expected(slug, "outsider") != H)
    assert demo.secret_marker("welcome") in feed


def test_private_member_feed(world):
    for persona in ["regular", "silver", "gold", "platinum"]:
        token = member_feed_token(world["members"][persona])
        feed = html(Client().get(f"/feed/{token}/"))
        for slug in GATED:
            assert (demo.secret_marker(slug) in feed) == (expected(slug, persona) == F), slug
        assert Client().get(f"/feed/{token}x/").status_code == 404


def test_images(world):
    for persona in PERSONAS:
        Image = get_image_model()
        client = world["clients"][persona]
        for slug in GATED:
            want = expected(slug, persona)
            secret = Image.objects.get(title=f"secret-{slug}")
            cover = Image.objects.get(title=f"cover-{slug}")
            secret_status = client.get(f"/img/{secret.pk}/width-800/").status_code
            cover_status = client.get(f"/img/{cover.pk}/fill-800x450/").status_code
            assert secret_status == (200 if want == F else 404), (slug, persona)
            assert cover_status == (200 if want != H else 404), (slug, persona)
            # The modern formats <picture> offers pass the same gate.
            secret_webp = client.get(f"/img/{secret.pk}/width-400/webp/").status_code
            cover_avif = client.get(f"/img/{cover.pk}/fill-400x225/avif/").status_code
            assert secret_webp == secret_status, (slug, persona)
            assert cover_avif == cover_status, (slug, persona)


def test_images_refuse_unknown_filters_and_media_is_staff_only(world):
    Image = get_image_model()
    cover = Image.objects.get(title="cover-welcome")
    outsider = world["clients"]["outsider"]
    assert outsider.get(f"/img/{cover.pk}/fill-9999x9999/").status_code == 404
    assert outsider.get(f"/img/{cover.pk}/fill-800x450/gif/").status_code == 404
    assert outsider.get(f"/img/{cover.pk}/fill-9999x9999/webp/").status_code == 404
    assert outsider.get(f"/media/{cover.file.name}").status_code == 404
    assert world["clients"]["platinum"].get(f"/media/{cover.file.name}").status_code == 404
    assert world["clients"]["staff"].get(f"/media/{cover.file.name}").status_code == 200


def test_staff_preview_as_each_tier(world):
    for tier in ["regular", "silver", "gold", "platinum"]:
        request = RequestFactory().get("/")
        request.user = StaffFactory()
        for slug, page in world["pages"].items():
            response = page.make_preview_request(request, f"tier:{tier}")
            response.render()
            body = response.content.decode()
            assert (demo.secret_marker(slug) in body) == (expected(slug, tier) == F), (slug, tier)


def test_aliases_of_gated_pages_are_refused(world):
    from django.core.exceptions import ValidationError

    page = world["pages"]["milan-backstage"]
    with pytest.raises(ValidationError):
        page.create_alias(update_slug="milan-backstage-copy")
    assert not GatedPage.objects.filter(slug="milan-backstage-copy").exists()


def test_documents_linked_from_gated_text_are_served_only_with_access(world):
    from django.core.files.base import ContentFile
    from wagtail.documents import get_document_model

    document = get_document_model().objects.create(
        title="金卡行程单", file=ContentFile(b"%PDF-1.4 itinerary", name="itinerary.pdf")
    )
    page = world["pages"]["milan-trip"]
    page.body = list(page.body.raw_data) + [{
        "type": "paragraph",
        "value": f'<p><a linktype="document" id="{document.pk}">行程单</a></p>',
    }]  # fmt: skip
    page.save_revision().publish()
    url = f"/documents/{document.pk}/itinerary.pdf"
    for persona in PERSONAS:
        status = world["clients"][persona].get(url).status_code
        assert status == (200 if expected("milan-trip", persona) == F else 404), persona
