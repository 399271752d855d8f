"""Decoding a member's photo and writing the copies we serve: pixels only.

A phone photo carries EXIF (GPS position, time, camera serial), XMP and ICC data; HEIC files
from iPhones carry the same. Every upload is opened with Pillow (HEIC through pillow-heif),
checked against the pixel limit from its header before a single pixel is decoded (a few
kilobytes can claim billions of pixels), turned upright from its EXIF orientation, and saved
again as a fresh JPEG with no metadata at all, plus a square thumbnail for the wall.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from community.media_upload import ImageRejected

pillow_heif.register_heif_opener()

ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC"}
DISPLAY_MAX_EDGE = 2048
THUMB_SIZE = (400, 400)
JPEG_OPTIONS = {"quality": 85, "optimize": True, "progressive": True}


def max_pixels() -> int:
    return int(getattr(settings, "PHOTO_MAX_PIXELS", 0) or settings.WAGTAILIMAGES_MAX_IMAGE_PIXELS)


def max_upload_bytes() -> int:
    return int(getattr(settings, "PHOTO_MAX_UPLOAD_BYTES", 0) or 20 * 1024 * 1024)


def _too_many_pixels(pixels: int | None = None) -> ImageRejected:
    limit = f"{max_pixels():,}"
    if pixels is None:
        return ImageRejected(_("图片像素过多，最多允许 %(limit)s 像素。") % {"limit": limit})
    return ImageRejected(
        _("图片像素过多（%(pixels)s），最多允许 %(limit)s 像素。")
        % {"pixels": f"{pixels:,}", "limit": limit}
    )


def inspect(data: bytes) -> Image.Image:
    """Open ``data`` without decoding it, refusing what we do not store.

    Raises ``ImageRejected`` (with a message for the member) for a file that is not a JPEG,
    PNG, WebP or HEIC picture, or that claims more pixels than allowed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_many_pixels() from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageRejected(_("无法读取这张图片，请上传 JPEG、PNG、WebP 或 HEIC 照片。")) from error
    if (image.format or "").upper() not in ACCEPTED_FORMATS:
        raise ImageRejected(
            _("不支持的图片格式：%(format)s。请上传 JPEG、PNG、WebP 或 HEIC 照片。")
            % {"format": image.format or _("未知")}
        )
    width, height = image.size
    if width * height > max_pixels():
        raise _too_many_pixels(width * height)
    return image


@dataclass(frozen=True)
class Processed:
    image: bytes  # JPEG, longest edge at most DISPLAY_MAX_EDGE
    thumb: bytes  # JPEG, THUMB_SIZE, centre-cropped
    width: int
    height: int


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels only; transparency goes onto white (a JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # A fresh image has an empty ``info``: nothing (exif, icc_profile, xmp, comment) is written.
    image.save(out, format="JPEG", **JPEG_OPTIONS)
    return out.getvalue()


def process(data: bytes) -> Processed:
    """The copies to serve of the photo in ``data``; ``ImageRejected`` when it is not one."""
    image = inspect(data)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)  # orientation first, while EXIF is still there
        pixels = _flatten(upright)
        clean = Image.new("RGB", pixels.size)
        clean.paste(pixels)  # a new image: no info, no exif, no icc carried over
        clean.thumbnail((DISPLAY_MAX_EDGE, DISPLAY_MAX_EDGE), Image.Resampling.LANCZOS)
        thumb = ImageOps.fit(clean, THUMB_SIZE, Image.Resampling.LANCZOS)
        return Processed(
            image=_jpeg(clean), thumb=_jpeg(thumb), width=clean.width, height=clean.height
        )
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ImageRejected(_("无法读取这张图片，文件可能已损坏。")) from error
