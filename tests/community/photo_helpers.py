"""Helpers for the photo wall tests: activities with a wall, checked-in members, photo files
made in the test with Pillow (EXIF and GPS written through ``Image.Exif``) and pillow-heif."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pillow_heif
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import timezone
from PIL import Image

from community.models import ActivityPage, ActivityPhoto, Registration
from community.participation import services as participation
from community.photos import services
from tests.community.test_registrations import make_activity

pillow_heif.register_heif_opener()

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F
# Shanghai, People's Square: 31°13'N 121°28'E.
GPS = {1: "N", 2: (31.0, 13.0, 48.0), 3: "E", 4: (121.0, 28.0, 12.0)}


def wall_activity(tier=None, **fields) -> ActivityPage:
    """A live activity that started an hour ago, with a wall open for a week after it."""
    now = timezone.now()
    defaults = {
        "starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=2),
        "registration_closes_at": now + timedelta(hours=1),
        "cancellation_deadline": now - timedelta(hours=2), "capacity": 50,
        "photo_limit": 3, "photo_window_days": 7,
        "photo_moderation": ActivityPage.PhotoModeration.PRE,
    }  # fmt: skip
    return make_activity(tier, **{**defaults, **fields})


def check_in(activity: ActivityPage, member) -> Registration:
    registration = participation.activity_register(activity=activity, member=member)
    registration, _first = participation.registration_checkin(
        registration=registration, method=Registration.CheckinMethod.STAFF
    )
    return registration


def exif_with_gps(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "TestPhone"
    if orientation:
        exif[ORIENTATION] = orientation
    exif[GPS_IFD] = GPS
    return exif


def jpeg_with_gps(size=(64, 32), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif_with_gps(orientation))
    return out.getvalue()


def heic_with_gps(size=(64, 32)) -> bytes:
    image = Image.new("RGB", size, (30, 160, 30))
    out = io.BytesIO()
    image.save(out, format="HEIF", exif=exif_with_gps().tobytes())
    return out.getvalue()


def png_bytes(size=(40, 40), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 200, 10, 128) if mode == "RGBA" else (10, 200, 10)).save(
        out, format="PNG"
    )
    return out.getvalue()


def as_upload(data: bytes, name: str = "IMG_0001.JPG", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def upload(activity, member, data: bytes | None = None, *, caption: str = "", consent=False,
           process: bool = True) -> ActivityPhoto:  # fmt: skip
    """A photo uploaded by ``member`` and, unless told otherwise, processed as the worker would."""
    photo = services.photo_upload(
        member=member, activity=activity, upload=as_upload(data or jpeg_with_gps()),
        caption=caption, public_consent=consent, upload_key=uuid.uuid4().hex,
    )  # fmt: skip
    if process:
        process_now(photo)
    return photo


def process_now(photo: ActivityPhoto) -> ActivityPhoto:
    """What the worker does, with its after-commit file deletions run as a commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.photo_process(photo_id=photo.pk)
    photo.refresh_from_db()
    return photo


def has_location(data: bytes) -> bool:
    """Whether any EXIF (and so any GPS block) survives in the file."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    return bool(exif.get_ifd(GPS_IFD)) or bool(exif) or "exif" in image.info
