"""Uploading photos to an activity's wall: who may, how many, until when, and what is stored.

Files are made here with Pillow and pillow-heif, with GPS written through ``Image.Exif``; what
comes back through the wall's picture URLs must carry pixels only.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image

from community.models import ActivityPhoto
from community.photos import services
from core.models import AuditEntry
from tests.community import photo_helpers as ph
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db
State = ActivityPhoto.State


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def poster(tiers):
    return MemberFactory(tier=tiers["gold"])


def fetch(client: Client, photo, variant="image") -> bytes:
    response = client.get(f"/community/photos/{photo.pk}/{variant}.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"].startswith("private")
    return b"".join(response.streaming_content)


def test_gps_tagged_jpeg_comes_back_without_location_and_upright(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    original = ph.jpeg_with_gps(size=(64, 32), orientation=6)  # "rotate 90° clockwise"
    assert ph.has_location(original)
    photo = ph.upload(activity, poster, original)
    assert photo.state == State.HELD  # pre-moderation by default
    client = Client()
    client.force_login(poster.user)
    for variant in ("image", "thumb"):
        data = fetch(client, photo, variant)
        assert not ph.has_location(data), variant
        assert b"TestPhone" not in data
    served = Image.open(io.BytesIO(fetch(client, photo)))
    assert served.size == (32, 64)  # the orientation was applied to the pixels, then dropped
    assert (photo.width, photo.height) == (32, 64)
    # The original (with its GPS) is gone from storage once processed.
    assert photo.original_name == ""
    assert not default_storage.exists(f"{services.ORIGINALS_PREFIX}{photo.upload_key}")


def test_heic_from_a_phone_is_accepted_and_comes_back_as_a_jpeg_without_location(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    original = ph.heic_with_gps()
    heic = Image.open(io.BytesIO(original))
    assert heic.format == "HEIF" and heic.getexif().get_ifd(ph.GPS_IFD)
    photo = ph.upload(activity, poster, original)
    assert photo.state == State.HELD
    client = Client()
    client.force_login(poster.user)
    data = fetch(client, photo)
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert not ph.has_location(data)


def test_png_with_transparency_and_webp_are_accepted(poster):
    activity = ph.wall_activity(photo_limit=5)
    ph.check_in(activity, poster)
    assert ph.upload(activity, poster, ph.png_bytes()).state == State.HELD
    out = io.BytesIO()
    Image.new("RGB", (30, 30), "white").save(out, format="WEBP")
    assert ph.upload(activity, poster, out.getvalue()).state == State.HELD


def test_decompression_bomb_is_refused_with_a_clear_message_and_nothing_is_stored(poster, settings):
    settings.PHOTO_MAX_PIXELS = 1_000_000
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    # A few kilobytes claiming 4,000 × 4,000 pixels.
    out = io.BytesIO()
    Image.new("L", (4000, 4000)).save(out, format="PNG", optimize=True)
    assert len(out.getvalue()) < 100_000
    before = set(default_storage.listdir(services.ORIGINALS_PREFIX)[1]) if default_storage.exists(
        services.ORIGINALS_PREFIX) else set()  # fmt: skip
    with pytest.raises(services.PhotoRejected) as refused:
        ph.upload(activity, poster, out.getvalue())
    assert "16,000,000" in refused.value.message and "1,000,000" in refused.value.message
    assert not ActivityPhoto.objects.exists()
    after = set(default_storage.listdir(services.ORIGINALS_PREFIX)[1]) if default_storage.exists(
        services.ORIGINALS_PREFIX) else set()  # fmt: skip
    assert after == before


def test_a_bomb_that_reaches_the_worker_fails_the_photo_with_the_reason(poster, settings):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster, process=False)
    settings.PHOTO_MAX_PIXELS = 100  # the limit went down before the worker ran
    ph.process_now(photo)
    assert photo.state == State.FAILED and "100" in photo.error
    assert photo.original_name == "" and photo.image_name == ""
    assert not default_storage.exists(f"{services.ORIGINALS_PREFIX}{photo.upload_key}")


def test_not_an_image_and_oversized_files_are_refused(poster, settings):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    with pytest.raises(services.PhotoRejected, match="JPEG、PNG、WebP 或 HEIC"):
        ph.upload(activity, poster, b"<?php echo 1; ?>" * 10)
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    with pytest.raises(services.PhotoRejected, match="GIF"):
        ph.upload(activity, poster, gif.getvalue())
    settings.PHOTO_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(services.PhotoRejected, match="MB"):
        ph.upload(activity, poster, ph.jpeg_with_gps(size=(400, 400)))


def test_processing_twice_changes_nothing_the_second_time(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster, process=False)
    assert services.photo_process(photo_id=photo.pk) == State.HELD
    photo.refresh_from_db()
    names = (photo.image_name, photo.thumb_name)
    assert services.photo_process(photo_id=photo.pk) == State.HELD
    photo.refresh_from_db()
    assert (photo.image_name, photo.thumb_name) == names


def test_only_checked_in_members_post_up_to_the_limit_while_the_wall_is_open(tiers, poster):
    activity = ph.wall_activity(photo_limit=2)
    registered_only = MemberFactory(tier=tiers["gold"])
    from community.participation import services as participation

    participation.activity_register(activity=activity, member=registered_only)
    with pytest.raises(services.PhotosNotAllowed):
        ph.upload(activity, registered_only)
    ph.check_in(activity, poster)
    ph.upload(activity, poster)
    ph.upload(activity, poster, process=False)  # still processing: it counts
    with pytest.raises(services.PhotoLimitReached):
        ph.upload(activity, poster)
    # A photo the member withdraws gives the place back.
    first = ActivityPhoto.objects.filter(member=poster).order_by("pk").first()
    services.photo_withdraw(member=poster, photo=first)
    ph.upload(activity, poster)
    # After the window: closed.
    ActivityPhoto.objects.filter(member=poster).update(state=State.WITHDRAWN)
    activity.ends_at = timezone.now() - timedelta(days=8)
    activity.save_revision().publish()
    activity.refresh_from_db()
    with pytest.raises(services.PhotoWallClosed):
        ph.upload(activity, poster)


def test_a_wall_staff_did_not_open_takes_no_photos(poster):
    activity = ph.wall_activity(photo_limit=0)
    ph.check_in(activity, poster)
    with pytest.raises(services.PhotoWallClosed):
        ph.upload(activity, poster)


def test_upload_over_http_shows_progress_to_the_member(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    client = Client()
    client.force_login(poster.user)
    page = client.get(f"/community/activities/{activity.pk}/photos/")
    assert 'data-testid="photo-upload"' in page.content.decode()
    response = client.post(
        f"/community/activities/{activity.pk}/photos/upload/",
        {"photo": ph.as_upload(ph.jpeg_with_gps()), "caption": "合影", "upload_key": "k" * 32},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202
    status = response.json()
    assert status["state"] == "processing" and not status["done"] and status["progress"] == 10
    # An outsider, or another member, cannot read someone's upload status.
    other = Client()
    other.force_login(MemberFactory().user)
    assert other.get(f"/community/photos/{status['id']}/status/").status_code == 404
    ph.process_now(ActivityPhoto.objects.get(pk=status["id"]))
    polled = client.get(f"/community/photos/{status['id']}/status/").json()
    assert polled["done"] and polled["state"] == "held" and polled["progress"] == 100
    assert polled["state_label"] == "待审核"
    assert AuditEntry.objects.filter(action="photo.uploaded").exists()
    # The same form submitted twice makes one photo.
    again = client.post(
        f"/community/activities/{activity.pk}/photos/upload/",
        {"photo": ph.as_upload(ph.jpeg_with_gps()), "upload_key": "k" * 32},
        HTTP_ACCEPT="application/json",
    )
    assert again.json()["id"] == status["id"]
    assert ActivityPhoto.objects.count() == 1


def test_a_refused_upload_over_http_says_why(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    client = Client()
    client.force_login(poster.user)
    response = client.post(
        f"/community/activities/{activity.pk}/photos/upload/",
        {"photo": ph.as_upload(b"not an image")}, HTTP_ACCEPT="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "JPEG、PNG、WebP 或 HEIC" in response.json()["error"]
