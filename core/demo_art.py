"""Pictures for the demo club, drawn with Pillow when the demo is loaded.

No downloads and no text in the pictures (so nothing to translate): each item or reward gets a
soft gradient in a palette of its own, with shapes that hint at what it is: arcs for stories,
a ribbon for offers, a horizon for activities, a wrapped box for rewards. The same title always
draws the same picture. Shared by the apps' demo modules (community covers, loyalty rewards).
"""

from __future__ import annotations

import functools
import hashlib
import io
import random

from django.core.files.images import ImageFile
from PIL import Image, ImageDraw, ImageFilter
from wagtail.images import get_image_model

SIZE = (1200, 675)

# (top-left, bottom-right, shapes) colours per mood: champagne, night blue, rose, jade, sunset,
# black and gold.
PALETTES = [
    ((238, 214, 170), (150, 104, 48), (255, 246, 226)),
    ((38, 50, 92), (120, 96, 170), (230, 206, 150)),
    ((242, 196, 196), (150, 70, 96), (255, 236, 228)),
    ((28, 86, 84), (142, 190, 160), (240, 226, 190)),
    ((250, 200, 120), (196, 84, 60), (255, 240, 200)),
    ((24, 24, 40), (176, 136, 64), (246, 220, 160)),
    ((60, 30, 40), (196, 120, 70), (250, 210, 150)),
]


def _gradient(start: tuple[int, int, int], end: tuple[int, int, int]) -> Image.Image:
    """A diagonal gradient, drawn small and scaled up (smooth and fast)."""
    small = Image.new("RGB", (64, 36))
    pixels = small.load()
    for x in range(64):
        for y in range(36):
            t = (x / 63 * 0.6) + (y / 35 * 0.4)
            pixels[x, y] = tuple(round(a + (b - a) * t) for a, b in zip(start, end, strict=True))
    return small.resize(SIZE, Image.Resampling.BICUBIC)


def _glow(image: Image.Image, rng: random.Random, colour, count: int) -> None:
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        r = rng.randint(80, 260)
        x, y = rng.randint(-100, SIZE[0]), rng.randint(-100, SIZE[1])
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*colour, rng.randint(40, 90)))
    image.alpha_composite(layer.filter(ImageFilter.GaussianBlur(40)))


def _arcs(image: Image.Image, rng: random.Random, colour) -> None:
    draw = ImageDraw.Draw(image)
    cx, cy = rng.randint(700, 1000), rng.randint(250, 450)
    for step in range(9):
        r = 60 + step * 45
        draw.arc((cx - r, cy - r, cx + r, cy + r), rng.randint(150, 200), rng.randint(330, 400),
                 fill=(*colour, 150 - step * 12), width=4)  # fmt: skip


def _ribbon(image: Image.Image, rng: random.Random, colour) -> None:
    draw = ImageDraw.Draw(image)
    for offset in range(0, 260, 52):
        y = 120 + offset + rng.randint(-20, 20)
        draw.polygon([(0, y + 240), (SIZE[0], y - 160), (SIZE[0], y - 130), (0, y + 270)],
                     fill=(*colour, 70 + offset // 5))  # fmt: skip
    cx, cy = rng.randint(780, 980), rng.randint(180, 300)
    draw.ellipse((cx - 110, cy - 110, cx + 110, cy + 110), outline=(*colour, 220), width=10)


def _horizon(image: Image.Image, rng: random.Random, colour) -> None:
    draw = ImageDraw.Draw(image)
    sun_x = rng.randint(300, 900)
    draw.ellipse((sun_x - 90, 170, sun_x + 90, 350), fill=(*colour, 200))
    for layer, shade in enumerate((90, 140, 200)):
        base = 420 + layer * 70
        points = [(0, SIZE[1])]
        for x in range(0, SIZE[0] + 100, 100):
            points.append((x, base - rng.randint(0, 110 - layer * 25)))
        points.append((SIZE[0], SIZE[1]))
        draw.polygon(points, fill=(20, 20, 30, shade))


def _gift(image: Image.Image, rng: random.Random, colour) -> None:
    draw = ImageDraw.Draw(image)
    x, y, w, h = 420 + rng.randint(-60, 60), 230, 360, 300
    draw.rounded_rectangle((x, y, x + w, y + h), radius=18, fill=(*colour, 150))
    draw.rounded_rectangle((x - 20, y - 60, x + w + 20, y + 10), radius=14, fill=(*colour, 200))
    ribbon = (150, 40, 60, 220)
    draw.rectangle((x + w // 2 - 22, y - 60, x + w // 2 + 22, y + h), fill=ribbon)
    for side in (-1, 1):
        cx = x + w // 2 + side * 60
        draw.ellipse((cx - 55, y - 130, cx + 55, y - 50), outline=ribbon, width=16)


MOTIFS = {"post": _arcs, "offer": _ribbon, "activity": _horizon, "reward": _gift}


@functools.lru_cache(maxsize=64)
def draw_cover(slug: str, kind: str = "post") -> bytes:
    """A JPEG picture for ``slug`` (``kind``: post, offer, activity or reward); kept per
    process, as a flushed test database loads the demo again and again."""
    digest = hashlib.sha256(slug.encode()).digest()
    rng = random.Random(digest)
    start, end, accent = PALETTES[digest[0] % len(PALETTES)]
    image = _gradient(start, end).convert("RGBA")
    _glow(image, rng, accent, 5)
    overlay = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    MOTIFS.get(kind, _arcs)(overlay, rng, accent)
    image.alpha_composite(overlay)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True, progressive=True)
    return buffer.getvalue()


def _is_flat(image) -> bool:
    """Whether a stored demo picture is one plain colour (drawn by an earlier demo version)."""
    try:
        with image.open_file() as handle, Image.open(handle) as picture:
            extrema = picture.convert("RGB").getextrema()
    except (OSError, ValueError):
        return False
    return all(low == high for low, high in extrema)


def demo_image(title: str, kind: str):
    """The Wagtail image ``title``, drawn once; a plain grey one left by an earlier demo is
    drawn again, so an existing demo club gets real pictures too."""
    model = get_image_model()
    existing = model.objects.filter(title=title).first()
    if existing and not _is_flat(existing):
        return existing
    picture = ImageFile(io.BytesIO(draw_cover(title, kind)), name=f"{title}.jpg")
    if existing:
        existing.renditions.all().delete()
        existing.file.save(picture.name, picture, save=False)
        existing.width, existing.height = SIZE
        existing.file_hash = ""
        existing.save(update_fields=["file", "width", "height", "file_hash", "file_size"])
        return existing
    return model.objects.create(title=title, file=picture)
