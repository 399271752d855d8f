"""Images staff upload are stored without metadata, and pixel bombs are refused.

Uploads go through the real Wagtail admin views (single and multiple upload) as a staff member
who holds only the image permissions on the root collection. The stored file is then opened
again: no EXIF (GPS included), no ICC profile, no comment, the orientation applied to the
pixels. A PNG whose header claims 50,000 x 50,000 pixels is refused with a clear message and
leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageCms
from wagtail.images import get_image_model
from wagtail.models import Collection, GroupCollectionPermission, UploadedFile

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GPS = {1: "N", 2: (31.0, 14.0, 7.0), 3: "E", 4: (121.0, 28.0, 9.0)}
SECRET_MAKER = "SecretCam-Serial-4711"


def photo_with_metadata() -> bytes:
    """A 40x20 JPEG shot 'rotated' (EXIF orientation 6) with GPS, maker, ICC and a comment."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = SECRET_MAKER
    exif[0x8825] = GPS
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(
        out, "JPEG", exif=exif, icc_profile=icc, comment=b"shot at home"
    )
    return out.getvalue()


def pixel_bomb() -> bytes:
    """A tiny PNG whose header claims 50,000 x 50,000 RGB pixels (7.5 GB decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))  # fmt: skip


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (12, 12), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=0, comment=b"made at home")  # fmt: skip
    return out.getvalue()


@pytest.fixture
def image_editor(db):
    """Staff who may enter the admin and add/choose images in the root collection, nothing else."""
    group = Group.objects.create(name="图片编辑")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    root = Collection.get_first_root_node()
    for codename in ("add_image", "choose_image", "change_image"):
        GroupCollectionPermission.objects.create(
            group=group, collection=root, permission=Permission.objects.get(codename=codename)
        )
    user = UserFactory(is_staff=True)
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def stored_bytes(image) -> bytes:
    with image.file.open("rb") as handle:
        return handle.read()


def assert_clean(data: bytes) -> Image.Image:
    stored = Image.open(io.BytesIO(data))
    assert dict(stored.getexif()) == {}
    assert stored.getexif().get_ifd(0x8825) == {}
    for key in ("exif", "icc_profile", "comment", "xmp"):
        assert key not in stored.info, key
    assert SECRET_MAKER.encode() not in data and b"at home" not in data
    return stored


def upload_one(client: Client, name: str, data: bytes, **extra):
    root = Collection.get_first_root_node()
    return client.post(
        reverse("wagtailimages:add"),
        {"title": name, "collection": root.pk,
         "file": SimpleUploadedFile(name, data), **extra},
    )  # fmt: skip


def upload_multiple(client: Client, name: str, data: bytes, **extra) -> dict:
    root = Collection.get_first_root_node()
    response = client.post(
        reverse("wagtailimages:add_multiple"),
        {"files[]": SimpleUploadedFile(name, data), "collection": root.pk, **extra},
    )
    assert response.status_code == 200
    return json.loads(response.content)


def test_single_upload_strips_exif_gps_icc_and_applies_orientation(image_editor):
    response = upload_one(image_editor, "photo.jpg", photo_with_metadata())
    assert response.status_code == 302, response.content.decode()[-2000:]
    image = get_image_model().objects.get()
    stored = assert_clean(stored_bytes(image))
    assert stored.format == "JPEG"
    assert stored.size == (20, 40) == (image.width, image.height)  # turned upright


def test_multiple_upload_goes_through_the_same_cleaning(image_editor):
    answer = upload_multiple(image_editor, "photo.jpg", photo_with_metadata())
    assert answer["success"] is True, answer
    image = get_image_model().objects.get()
    assert assert_clean(stored_bytes(image)).size == (20, 40)


def test_animated_gif_keeps_its_frames_and_loses_its_comment(image_editor):
    assert upload_one(image_editor, "wave.gif", animated_gif()).status_code == 302
    stored = assert_clean(stored_bytes(get_image_model().objects.get()))
    assert stored.format == "GIF" and stored.n_frames == 3
    durations = []
    for frame in range(stored.n_frames):
        stored.seek(frame)
        durations.append(stored.info["duration"])
    assert durations == [100, 200, 300]


def assert_nothing_stored() -> None:
    assert not get_image_model().objects.exists()
    assert not UploadedFile.objects.exists()


def test_pixel_bomb_is_refused_with_a_clear_message_by_both_views(image_editor):
    response = upload_one(image_editor, "bomb.png", pixel_bomb())
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert any("像素" in str(error) or "pixels" in str(error) for error in errors), errors
    assert_nothing_stored()

    answer = upload_multiple(image_editor, "bomb.png", pixel_bomb())
    assert answer["success"] is False
    assert "像素" in answer["error_message"] or "pixels" in answer["error_message"], answer
    assert_nothing_stored()


def test_a_file_that_only_pretends_to_be_an_image_is_refused(image_editor):
    fake = b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 10
    answer = upload_multiple(image_editor, "fake.png", fake)
    assert answer["success"] is False and answer["error_message"]
    assert_nothing_stored()


def test_multiple_upload_never_parks_a_raw_file(image_editor):
    """Wagtail keeps a file whose other fields fail as a raw UploadedFile, to be saved later
    without the form's cleaning; such an upload is refused instead, with the reason."""
    answer = upload_multiple(image_editor, "photo.jpg", photo_with_metadata(), title="长" * 300)
    assert answer["success"] is False, answer
    assert "标题" in answer["error_message"] or "title" in answer["error_message"].lower()
    assert_nothing_stored()
