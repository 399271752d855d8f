"""Every image staff upload is decoded and re-encoded before it is stored.

Photos from phones carry EXIF (GPS position, camera serial numbers), ICC profiles, XMP packets
and comments; a member who downloads a rendition or the original must never learn where a
photographer stood. A crafted file can also claim billions of pixels in a few bytes and exhaust
a worker's memory when a rendition is made. So the Wagtail image form (single upload, multiple
upload, chooser upload and replacing the file of an existing image all use it, through
``WAGTAILIMAGES_IMAGE_FORM_BASE``) opens the upload with Pillow, refuses anything over
``WAGTAILIMAGES_MAX_IMAGE_PIXELS`` before decoding it, applies the EXIF orientation to the
pixels, and stores a fresh file of the same format that carries pixels only.
"""

from __future__ import annotations

import io
import warnings

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError
from wagtail.images.fields import WagtailImageField
from wagtail.images.forms import BaseImageForm

# Per-frame facts an animation needs to play as before; every other info key (exif, icc_profile,
# xmp, comment, dpi, text chunks…) is dropped.
ANIMATION_KEYS = ("duration", "disposal", "transparency", "loop", "background", "blend")
SAVE_OPTIONS: dict[str, dict] = {
    "JPEG": {"quality": 90, "optimize": True},
    "PNG": {"optimize": True},
    "GIF": {"comment": b""},
    "WEBP": {"quality": 90},
    "AVIF": {"quality": 90},
}
STILL_KEYS = {"PNG": ("transparency",), "GIF": ("transparency", "background")}


class ImageRejected(Exception):
    """The upload is not an image we store; ``message`` is shown to the staff member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _pixel_limit() -> int:
    return int(getattr(settings, "WAGTAILIMAGES_MAX_IMAGE_PIXELS", 0) or Image.MAX_IMAGE_PIXELS)


def _open(data: bytes) -> Image.Image:
    """Open without decoding; Pillow's own bomb guard becomes a clear refusal too."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(
            _("图片像素过多，最多允许 %(limit)s 像素。") % {"limit": f"{_pixel_limit():,}"}
        ) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageRejected(_("无法读取这张图片，文件可能已损坏。")) from error


def _clean_frame(frame: Image.Image, keys: tuple[str, ...]) -> Image.Image:
    copy = frame.copy()
    copy.info = {key: frame.info[key] for key in keys if key in frame.info}
    return copy


def reencode(data: bytes) -> tuple[bytes, str]:
    """Return ``(bytes, format)`` of a metadata-free copy of the image in ``data``.

    Raises ``ImageRejected`` for files that are not images, are damaged, claim more pixels than
    allowed (checked from the header, before any pixel is decoded) or use a format we cannot
    write back.
    """
    image = _open(data)
    image_format = (image.format or "").upper()
    if image_format == "MPO":  # a JPEG with a second (depth or preview) picture appended
        image_format = "JPEG"
    if image_format not in SAVE_OPTIONS:
        raise ImageRejected(
            _("不支持的图片格式：%(format)s。") % {"format": image_format or _("未知")}
        )
    width, height = image.size
    limit = _pixel_limit()
    # The header's size first: counting a GIF's frames already walks through the file.
    frames = 1
    if width * height <= limit and image_format != "JPEG":
        frames = getattr(image, "n_frames", 1)
    if width * height * frames > limit:
        raise ImageRejected(
            _("图片像素过多（%(pixels)s），最多允许 %(limit)s 像素。")
            % {"pixels": f"{width * height * frames:,}", "limit": f"{limit:,}"}
        )
    try:
        if frames > 1:
            sequence = [_clean_frame(f, ANIMATION_KEYS) for f in ImageSequence.Iterator(image)]
            first, rest = sequence[0], sequence[1:]
            extra = {"save_all": True, "append_images": rest}
            durations = [frame.info.get("duration") for frame in sequence]
            if all(isinstance(value, int | float) for value in durations):
                extra["duration"] = durations
            if "loop" in image.info:
                extra["loop"] = image.info["loop"]
        else:
            image.load()
            upright = ImageOps.exif_transpose(image)
            first = _clean_frame(upright, STILL_KEYS.get(image_format, ()))
            extra = {}
        if image_format == "JPEG" and first.mode not in ("RGB", "L", "CMYK"):
            first = first.convert("RGB")
        out = io.BytesIO()
        first.save(out, format=image_format, **SAVE_OPTIONS[image_format], **extra)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageRejected(_("无法读取这张图片，文件可能已损坏。")) from error
    return out.getvalue(), image_format


class SafeImageField(WagtailImageField):
    """Wagtail's image field, but a file Pillow cannot open is a form error, not a 500.

    Wagtail recognises the format from the first bytes, then asks Pillow for the size and only
    expects a decompression bomb there; a PNG signature followed by junk raised
    ``UnidentifiedImageError`` out of the form.
    """

    def check_image_pixel_size(self, f) -> None:
        try:
            super().check_image_pixel_size(f)
        except ValidationError:
            raise
        except Exception as error:  # noqa: BLE001 - any decoder failure means "not an image"
            raise ValidationError(
                self.error_messages["invalid_image"], code="invalid_image"
            ) from error


class ReencodingImageForm(BaseImageForm):
    """The base of every Wagtail image form: the stored file is always a re-encoded copy."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("file")
        if type(field) is WagtailImageField:
            # Same field, same state; only the check above differs. (Declaring the field on
            # this class instead would add it to Wagtail's multiple-upload edit form too.)
            field.__class__ = SafeImageField

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not isinstance(upload, DjangoUploadedFile):
            return upload  # no new file in this submission (editing the title, say)
        upload.seek(0)
        try:
            data, _format = reencode(upload.read())
        except ImageRejected as rejected:
            raise forms.ValidationError(rejected.message, code="image_rejected") from None
        return InMemoryUploadedFile(
            io.BytesIO(data), field_name="file", name=upload.name,
            content_type=upload.content_type, size=len(data), charset=None,
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        other_errors = [name for name in self.errors if name != "file"]
        if other_errors and isinstance(self.files.get("file"), DjangoUploadedFile):
            # Wagtail's multiple upload parks a file whose other fields fail as a raw
            # ``UploadedFile`` and stores it later without this form: refuse the whole upload so
            # no file ever skips the re-encoding above.
            labels = ", ".join(
                str(self.fields[name].label) if name in self.fields else name
                for name in other_errors
            )
            self.add_error(
                "file", _("图片没有保存：请先更正这些字段：%(fields)s。") % {"fields": labels}
            )
        return cleaned
