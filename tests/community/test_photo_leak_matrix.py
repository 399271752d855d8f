"""The leak matrix of photo walls: every persona × every photo × every surface.

Two activities: one for silver and above (others get its teaser), one for gold and above that
is hidden from everyone else. On each, a gold member posted four photos: one published, one
published and featured with the member's consent to the public teaser, one featured without
that consent, and one still held for review. What each persona may see is written out here by
hand, independently of the gate, and the wall page, the item page's photo section, the JSON
API, the picture and thumbnail URLs, search and the feeds must all agree with it.
"""

from __future__ import annotations

import pytest
from django.test import Client

from community.models import ActivityPhoto
from community.photos import services
from members.models import Member
from tests.community import photo_helpers as ph
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

F, T, H = "full", "teaser", "hidden"
PERSONAS = ["outsider", "applicant", "suspended", "regular", "silver", "gold", "platinum", "staff"]
#                      outsider applicant suspended regular silver gold platinum staff
ACCESS = {
    "silver-wall": [T, T, T, T, F, F, F, F],
    "gold-hidden": [H, H, H, H, H, F, F, F],
}  # fmt: skip
KINDS = ["published", "teaser", "no_consent", "held"]


def access(wall: str, persona: str) -> str:
    return ACCESS[wall][PERSONAS.index(persona)]


def may_see(wall: str, kind: str, persona: str) -> bool:
    if persona == "staff":
        return True
    level = access(wall, persona)
    if kind == "held":
        return False
    if level == F:
        return True
    return level == T and kind == "teaser"


@pytest.fixture
def world(db):
    tiers = standard_tiers()
    staff = StaffFactory()
    walls = {
        "silver-wall": ph.wall_activity(tiers["silver"], slug="silver-wall"),
        "gold-hidden": ph.wall_activity(tiers["gold"], slug="gold-hidden", hide_when_locked=True),
    }
    poster = MemberFactory(tier=tiers["gold"], display_name="摄影会员")
    photos: dict[tuple[str, str], ActivityPhoto] = {}
    for name, activity in walls.items():
        activity.photo_limit = 10
        activity.save_revision().publish()
        ph.check_in(activity, poster)
        for kind in KINDS:
            photo = ph.upload(activity, poster, caption=f"说明-{name}-{kind}",
                              consent=kind == "teaser")  # fmt: skip
            if kind != "held":
                services.photo_moderate(photo=photo, actor=staff, decision="approve")
            if kind in ("teaser", "no_consent"):
                services.photo_moderate(photo=photo, actor=staff, decision="feature")
            photos[name, kind] = photo
    clients = {"outsider": Client()}
    for persona in PERSONAS[1:]:
        client = Client()
        if persona == "staff":
            client.force_login(staff)
        else:
            special = {"applicant": Member.State.APPLICANT, "suspended": Member.State.SUSPENDED}
            member = MemberFactory(state=special.get(persona, Member.State.MEMBER),
                                   tier=tiers.get(persona, tiers["gold"]))  # fmt: skip
            client.force_login(member.user)
        clients[persona] = client
    return {"clients": clients, "walls": walls, "photos": photos, "poster": poster}


def test_picture_and_thumbnail_urls(world):
    for persona, client in world["clients"].items():
        for (wall, kind), photo in world["photos"].items():
            for variant in ("image", "thumb"):
                response = client.get(f"/community/photos/{photo.pk}/{variant}.jpg")
                want = 200 if may_see(wall, kind, persona) else 404
                assert response.status_code == want, (persona, wall, kind, variant)
                if want == 200:
                    assert response["Cache-Control"].startswith("private")


def test_wall_pages(world):
    for persona, client in world["clients"].items():
        for wall, activity in world["walls"].items():
            response = client.get(f"/community/activities/{activity.pk}/photos/")
            if access(wall, persona) == H and persona != "staff":
                assert response.status_code == 404, (persona, wall)
                continue
            assert response.status_code == 200, (persona, wall)
            body = response.content.decode()
            for kind in KINDS:
                photo = world["photos"][wall, kind]
                shown = f"/community/photos/{photo.pk}/thumb.jpg" in body
                caption = f"说明-{wall}-{kind}" in body
                # Staff see the wall as published (held photos are in the moderation queue).
                want = may_see(wall, kind, persona) and kind != "held"
                assert shown == want, (persona, wall, kind)
                assert caption == want, (persona, wall, kind)
            assert ("摄影会员" in body) == (access(wall, persona) == F), (persona, wall)


def test_item_pages_photo_section(world):
    for persona, client in world["clients"].items():
        for wall, activity in world["walls"].items():
            response = client.get(activity.url)
            if access(wall, persona) == H:
                assert response.status_code == 404, (persona, wall)
                continue
            body = response.content.decode()
            for kind in KINDS:
                photo = world["photos"][wall, kind]
                shown = f"/community/photos/{photo.pk}/thumb.jpg" in body
                assert shown == (may_see(wall, kind, persona) and kind != "held"), (
                    persona, wall, kind)  # fmt: skip


def test_json_api(world):
    for persona, client in world["clients"].items():
        for wall, activity in world["walls"].items():
            response = client.get(f"/api/activities/{activity.pk}/photos/")
            if access(wall, persona) == H and persona != "staff":
                assert response.status_code == 404, (persona, wall)
                continue
            data = response.json()
            ids = {item["id"] for item in data["photos"]}
            for kind in KINDS:
                photo = world["photos"][wall, kind]
                want = may_see(wall, kind, persona) and kind != "held"
                assert (photo.pk in ids) == want, (persona, wall, kind)
            assert data["locked"] == (access(wall, persona) != F and persona != "staff")


def test_search_listings_and_feeds_never_carry_photos_or_captions(world):
    for persona, client in world["clients"].items():
        for path in ("/search/?q=说明", "/community/", "/feed/", "/api/items/", "/sitemap.xml"):
            body = client.get(path).content.decode()
            assert "说明-" not in body, (persona, path)
            assert "/community/photos/" not in body, (persona, path)


def test_the_teaser_shows_featured_photos_only_with_the_members_consent(world):
    outsider = world["clients"]["outsider"]
    activity = world["walls"]["silver-wall"]
    body = outsider.get(activity.url).content.decode()
    teaser = world["photos"]["silver-wall", "teaser"]
    no_consent = world["photos"]["silver-wall", "no_consent"]
    assert f"/community/photos/{teaser.pk}/thumb.jpg" in body
    assert f"/community/photos/{no_consent.pk}/thumb.jpg" not in body
    # Staff take the feature back: the outsiders' kept copy of the page changes at once.
    services.photo_moderate(photo=teaser, actor=StaffFactory(), decision="unfeature")
    body = outsider.get(activity.url).content.decode()
    assert f"/community/photos/{teaser.pk}/thumb.jpg" not in body
    assert outsider.get(f"/community/photos/{teaser.pk}/image.jpg").status_code == 404


def test_the_poster_sees_their_own_held_photo_and_nobody_else_does(world):
    poster = Client()
    poster.force_login(world["poster"].user)
    held = world["photos"]["silver-wall", "held"]
    assert poster.get(f"/community/photos/{held.pk}/thumb.jpg").status_code == 200
    body = poster.get(f"/community/activities/{held.activity_id}/photos/").content.decode()
    assert 'data-testid="own-pending"' in body and "待审核" in body


def test_media_storage_is_never_linked_publicly(world):
    for client in world["clients"].values():
        for activity in world["walls"].values():
            for path in (activity.url, f"/community/activities/{activity.pk}/photos/"):
                response = client.get(path)
                if response.status_code == 200:
                    body = response.content.decode()
                    assert "/media/photos/" not in body and "photos/originals" not in body
    # The media URL itself is for staff only (and the originals are gone once processed).
    photo = world["photos"]["silver-wall", "published"]
    for persona in ("outsider", "gold", "platinum"):
        response = world["clients"][persona].get(f"/media/{photo.image_name}")
        assert response.status_code == 404, persona
