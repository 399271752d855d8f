"""Avatar pictures drawn on demand.

Drawn rather than shipped so every user, including ones a test adds, has a distinct, stable
picture; the digits are seven-segment shapes so no font file is needed. Pillow is imported lazily to
keep start-up fast.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from functools import lru_cache

#: Pixel size of each avatar variant named in users/show.
AVATAR_SIZES = {"50": 50, "180": 180, "hd": 512}

_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abged",
    "3": "abgcd",
    "4": "fgbc",
    "5": "afgcd",
    "6": "afgedc",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def _segment_boxes(x: float, y: float, w: float, h: float, t: float) -> dict[str, tuple]:
    mid = y + h / 2
    return {
        "a": (x + t, y, x + w - t, y + t),
        "b": (x + w - t, y + t, x + w, mid),
        "c": (x + w - t, mid, x + w, y + h - t),
        "d": (x + t, y + h - t, x + w - t, y + h),
        "e": (x, mid, x + t, y + h - t),
        "f": (x, y + t, x + t, mid),
        "g": (x + t, mid - t / 2, x + w - t, mid + t / 2),
    }


def _colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    red, green, blue = colorsys.hsv_to_rgb(digest[0] / 255, 0.45 + digest[1] / 1020, 0.78)
    return int(red * 255), int(green * 255), int(blue * 255)


@lru_cache(maxsize=256)
def avatar_jpeg(uid: str, size: int) -> bytes:
    """A coloured square showing the uid's last two digits."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), _colour(uid))
    draw = ImageDraw.Draw(image)
    digits = (uid[-2:] if len(uid) >= 2 else uid.rjust(2, "0")).replace(" ", "0")
    digit_w, digit_h = size * 0.22, size * 0.44
    thickness = max(1.0, size * 0.05)
    gap = size * 0.08
    left = (size - 2 * digit_w - gap) / 2
    top = (size - digit_h) / 2
    for index, digit in enumerate(digits):
        boxes = _segment_boxes(left + index * (digit_w + gap), top, digit_w, digit_h, thickness)
        for segment in _SEGMENTS.get(digit, "g"):
            draw.rectangle(boxes[segment], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@lru_cache(maxsize=8)
def default_avatar_gif(size: int) -> bytes:
    """Weibo's grey silhouette stand-in for users who never uploaded a picture."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (224, 224, 224))
    draw = ImageDraw.Draw(image)
    grey = (176, 176, 176)
    draw.ellipse((size * 0.32, size * 0.16, size * 0.68, size * 0.52), fill=grey)
    draw.ellipse((size * 0.16, size * 0.58, size * 0.84, size * 1.2), fill=grey)
    out = io.BytesIO()
    image.save(out, "GIF")
    return out.getvalue()
