"""Sharing one's own approved wall photo to Weibo: the same confirmation, exactly-once posting
and card pipeline as every share; the card shows the picture, the text and landing page only
the activity's public teaser."""

from __future__ import annotations

import io
import uuid

import pytest
from django.test import Client
from PIL import Image

from community.models import ActivityPage
from community.photos import services as photos
from share import services
from share.card import COVER_BOX
from share.models import Share
from share.subjects import NotShareable, subject_for
from tests.community import photo_helpers as ph
from tests.factories import MemberFactory, StaffFactory, standard_tiers
from tests.share.conftest import make_sharer

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(sandbox, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    tiers = standard_tiers()
    member = make_sharer(sandbox, uid="1001000013", tier=tiers["gold"])
    activity = ph.wall_activity(
        shareable=True, photo_moderation=ActivityPage.PhotoModeration.PRE, slug="photo-tasting"
    )
    ph.check_in(activity, member)
    photo = ph.upload(activity, member, ph.jpeg_with_gps(size=(600, 400)), caption="品鉴会合影")
    return {"member": member, "activity": activity, "photo": photo, "sandbox": sandbox,
            "tiers": tiers}  # fmt: skip


def test_only_ones_own_approved_photo_can_be_shared(setup):
    member, photo = setup["member"], setup["photo"]
    with pytest.raises(NotShareable):  # still held for review
        subject_for(member, kind="photo", ref=photo.pk)
    photos.photo_moderate(photo=photo, actor=StaffFactory(), decision="approve")
    subject = subject_for(member, kind="photo", ref=photo.pk)
    assert subject.key == f"photo:{photo.pk}" and subject.title == setup["activity"].title
    other = make_sharer(setup["sandbox"], uid="1001000014", tier=setup["tiers"]["gold"])
    with pytest.raises(NotShareable):
        subject_for(other, kind="photo", ref=photo.pk)
    photos.photo_moderate(photo=photo, actor=StaffFactory(), decision="reject", reason="不合适")
    with pytest.raises(NotShareable):
        subject_for(member, kind="photo", ref=photo.pk)


def test_a_photo_of_an_activity_hidden_from_outsiders_cannot_be_shared(sandbox, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    tiers = standard_tiers()
    member = make_sharer(sandbox, uid="1001000015", tier=tiers["gold"])
    activity = ph.wall_activity(tiers["gold"], shareable=True, hide_when_locked=True,
                                photo_moderation=ActivityPage.PhotoModeration.POST)  # fmt: skip
    ph.check_in(activity, member)
    photo = ph.upload(activity, member)
    with pytest.raises(NotShareable, match="不对外公开"):
        subject_for(member, kind="photo", ref=photo.pk)


def test_the_member_confirms_and_the_photo_reaches_weibo_exactly_once(
    setup, django_capture_on_commit_callbacks
):
    member, photo, sandbox = setup["member"], setup["photo"], setup["sandbox"]
    photos.photo_moderate(photo=photo, actor=StaffFactory(), decision="approve")
    client = Client()
    client.force_login(member.user)
    wall = client.get(f"/community/activities/{photo.activity_id}/photos/").content.decode()
    assert f"/share/new/?kind=photo&amp;ref={photo.pk}" in wall
    mine = client.get("/share/mine/").content.decode()
    assert f"kind=photo&amp;ref={photo.pk}" in mine
    page = client.get(f"/share/new/?kind=photo&ref={photo.pk}")
    assert page.status_code == 200
    body = page.content.decode()
    assert setup["activity"].title in body
    key = uuid.uuid4().hex
    text = page.context["text"]
    form = {"kind": "photo", "ref": photo.pk, "text": text, "with_card": "1", "show_name": "1",
            "confirmation_key": key}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/share/new/", form).status_code == 302
        assert client.post("/share/new/", form).status_code == 302  # a double tap
    share = Share.objects.get()
    assert (share.kind, share.photo_id, share.item_id) == ("photo", photo.pk, photo.activity_id)
    assert share.with_card and share.card_name
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert services.share_post(share_id=share.pk) == Share.State.SENT  # a redelivery
    posts = sandbox.posts(uid="1001000013")
    assert len(posts) == 1 and posts[0]["text"] == share.text
    card = Image.open(io.BytesIO(sandbox.pic(posts[0]["idstr"]))).convert("RGB")
    cover = card.crop(COVER_BOX)
    raw = cover.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    reds = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90)
    blues = sum(1 for r, g, b in pixels if b > 150 and r < 90 and g < 90)
    assert reds > 1000 and blues > 1000  # the member's photo is the card's picture
    # The public landing page shows the activity's teaser; its card goes with the photo.
    outsider = Client()
    landing = outsider.get(f"/s/{share.token}/")
    assert landing.status_code == 200 and setup["activity"].title in landing.content.decode()
    assert outsider.get(f"/s/{share.token}/card.jpg").status_code == 200
    photos.photo_withdraw(member=member, photo=photo)
    assert outsider.get(f"/s/{share.token}/card.jpg").status_code == 404


def test_another_members_photo_is_refused_on_the_confirmation_page(setup):
    photos.photo_moderate(photo=setup["photo"], actor=StaffFactory(), decision="approve")
    other = MemberFactory(tier=setup["tiers"]["gold"])
    client = Client()
    client.force_login(other.user)
    response = client.get(f"/share/new/?kind=photo&ref={setup['photo'].pk}")
    assert response.status_code == 302 and response["Location"].endswith("/share/mine/")
