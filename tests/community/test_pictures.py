"""Real pictures: drawn demo covers, served as renditions in several widths and modern formats,
lazily below the fold, always through the gate."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.images import ImageFile
from django.core.management import call_command
from PIL import Image as PILImage
from wagtail.images import get_image_model

from community.models import GatedPage
from members.models import Member

pytestmark = pytest.mark.django_db

GOLD_UID = "1001000012"


@pytest.fixture
def demo():
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _colours(image) -> int:
    with image.open_file() as handle, PILImage.open(handle) as picture:
        return len(picture.convert("RGB").resize((64, 36)).getcolors(64 * 36) or [])


def test_demo_covers_are_pictures_not_grey_boxes(demo):
    covers = get_image_model().objects.filter(title__startswith="cover-")
    assert covers.count() == GatedPage.objects.count()
    for cover in covers:
        assert _colours(cover) > 200, cover.title  # a drawing, not one flat colour


def test_a_grey_cover_left_by_an_earlier_demo_is_drawn_again(demo):
    cover = get_image_model().objects.get(title="cover-welcome")
    buffer = io.BytesIO()
    PILImage.new("RGB", (1200, 675), (138, 138, 138)).save(buffer, "PNG")
    cover.file.save("grey.png", ImageFile(buffer, name="grey.png"))
    assert _colours(cover) == 1
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    cover.refresh_from_db()
    assert _colours(cover) > 200


def test_feed_and_item_offer_modern_formats_in_several_widths(client, demo):
    member = Member.objects.get(weibo_uid=GOLD_UID)
    client.force_login(member.user)
    feed = client.get("/community/").content.decode()
    pictures = re.findall(r"<picture>.*?</picture>", feed)
    assert len(pictures) >= 2
    first, second = pictures[0], pictures[1]
    assert '<source type="image/avif"' in first and '<source type="image/webp"' in first
    assert re.search(r'srcset="/img/\d+/fill-400x225/avif/ 400w, /img/\d+/fill-800x450/avif/ '
                     r'800w, /img/\d+/fill-1200x675/avif/ 1200w"', first)  # fmt: skip
    assert 'fetchpriority="high"' in first and 'loading="lazy"' not in first  # above the fold
    assert 'loading="lazy"' in second  # below the fold

    trip = GatedPage.objects.get(slug="milan-trip")
    item = client.get(trip.url).content.decode()
    body_picture = re.search(r'<figure class="block-image">.*?</figure>', item, re.S).group(0)
    assert "/width-800/webp/" in body_picture and 'loading="lazy"' in body_picture
    avif = re.search(r"(/img/\d+/width-400/avif/)", body_picture).group(1)
    response = client.get(avif)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/avif"


def test_outsider_gets_the_teaser_cover_but_not_the_body_picture_in_any_format(client, demo):
    trip = GatedPage.objects.get(slug="milan-trip")
    secret = get_image_model().objects.get(title="secret-milan-trip")
    html = client.get(trip.url).content.decode()
    assert f"/img/{trip.cover_image_id}/fill-800x450/avif/" in html
    assert f"/img/{secret.pk}/" not in html
    assert client.get(f"/img/{trip.cover_image_id}/fill-800x450/webp/").status_code == 200
    for image_format in ("avif", "webp"):
        assert client.get(f"/img/{secret.pk}/width-800/{image_format}/").status_code == 404
