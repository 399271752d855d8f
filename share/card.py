"""The share card: the picture posted to Weibo with a shared activity, post or offer.

A pure renderer: content in, JPEG bytes out, no database and no network. Why it looks like this:

- **Same content, same bytes.** ``share.services`` stores each card under
  ``content_fingerprint(content)`` and renders it once; the renderer uses no clock, no randomness
  and no state but cached fonts, so a re-render (another worker, a retry) gives identical bytes.
  Bump ``RENDERER_VERSION`` whenever the design changes, so stored cards are not reused.
- **Nothing of the uploads leaks.** Cover and avatar are decoded, cropped and pasted on a fresh
  canvas, and the JPEG is written from that canvas only: no EXIF (GPS of a phone photo), ICC
  profile or comment of an uploaded file reaches Weibo.
- **Untrusted images never stop a share.** Bytes that do not decode, or that claim more pixels
  than a card could use (decompression bombs), are treated as "no image".
- **Real Chinese or nothing.** Cards are drawn with a CJK font that is verified to hold Chinese
  glyphs. Without one, rendering raises ``CardFontMissing`` rather than posting a card full of
  empty boxes ("tofu"). Single characters the font lacks (emoji, for instance) are left out.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import qrcode
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps
from qrcode.exceptions import DataOverflowError

log = logging.getLogger(__name__)

# Part of every fingerprint: change it whenever the rendered picture changes for the same content.
RENDERER_VERSION = "1"

WIDTH, HEIGHT = 1080, 1440
MARGIN = 72
JPEG_QUALITY = 88

# Uploaded images larger than this are refused before decoding: a card never needs more.
MAX_SOURCE_PIXELS = 40_000_000
# Text beyond this many characters per allowed line cannot appear on the card; cut it early so
# absurd input costs no measuring time.
_CHARS_PER_LINE_CAP = 300

BACKGROUND = (250, 247, 242)
INK = (33, 33, 33)
MUTED = (102, 102, 102)
ACCENT = (176, 36, 48)
HEADER_FILL = (38, 42, 56)
HEADER_TEXT = (222, 196, 140)
BADGE_FILL = (214, 178, 98)
BADGE_TEXT = (64, 40, 8)
PILL_FILL = (255, 255, 255)
QR_DARK = (0, 0, 0)
QR_LIGHT = (255, 255, 255)

# Layout (pixels). The title and summary flow downwards; the footer is fixed.
COVER_BOX = (0, 0, WIDTH, 520)
BADGE_TOP = 48
TITLE_TOP = 568
TITLE_SIZE, TITLE_LEADING, TITLE_LINES = 56, 78, 3
SUMMARY_GAP = 26
SUMMARY_SIZE, SUMMARY_LEADING, SUMMARY_LINES = 34, 52, 5
DIVIDER_Y = 1110
FOOTER_TOP = 1136
QR_AREA = (WIDTH - MARGIN - 220, FOOTER_TOP, WIDTH - MARGIN, FOOTER_TOP + 220)
MEMBER_BOX = (MARGIN, FOOTER_TOP + 4, 740, FOOTER_TOP + 114)
AVATAR_SIZE = 96
BRAND_TOP = 1316

# Simple kinsoku: characters that may not begin a line, and ones that may not end it.
NO_LINE_START = frozenset(
    "，。、；：！？）》」』】〕〉〗｝〙〛”’…—～·％‰"
    "ー々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ"
    ",.;:!?)]}%"
)
NO_LINE_END = frozenset("（《「『【〔〈〖｛〘〚“‘([{")
# Trailing punctuation dropped before an ellipsis ("很好，…" reads badly).
_BEFORE_ELLIPSIS_STRIP = " ，、；：,;:"
ELLIPSIS = "…"

# Debian's fonts-noto-cjk first (installed by the project bootstrap), then other common places.
# Bold faces are found next to the regular file ("-Regular" → "-Bold").
KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
# Sure to be missing from any font (supplementary private use area): draws the "no glyph" box.
_MISSING_PROBE = "\U000f0000"
_CJK_PROBE = "会"


@dataclass(frozen=True)
class CardContent:
    """Everything a card shows. Only public teaser text belongs here: the card is public."""

    title: str
    summary: str
    link: str
    tier_label: str = ""
    kind_label: str = ""
    member_name: str = ""
    member_avatar: bytes | None = None
    cover_image: bytes | None = None
    brand: str = ""


class CardFontMissing(RuntimeError):
    """No font with Chinese glyphs is installed; a card would show boxes instead of text."""


Box = tuple[int, int, int, int]


# --- Fingerprint -----------------------------------------------------------------------------


def content_fingerprint(content: CardContent) -> str:
    """A storage key that changes whenever the rendered card would.

    Every field is hashed length-prefixed (so ``("ab", "c")`` and ``("a", "bc")`` differ, and
    ``None`` differs from empty bytes), together with ``RENDERER_VERSION`` and the active language
    (the captions are translated).
    """
    digest = hashlib.sha256()
    digest.update(f"share-card:{RENDERER_VERSION}:{translation.get_language() or ''}".encode())
    for field in fields(content):
        value = getattr(content, field.name)
        if value is None:
            tag, raw = b"N", b""
        elif isinstance(value, bytes):
            tag, raw = b"B", value
        else:
            tag, raw = b"S", str(value).encode("utf-8", "surrogatepass")
        digest.update(field.name.encode() + b"\0" + tag + len(raw).to_bytes(8, "big") + raw)
    return digest.hexdigest()


# --- Fonts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (a .ttc holds several: JP, KR, SC, TC...)."""

    path: str
    index: int


def _draw_probe(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    size = int(font.size) * 2 + 8
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text((4, 4), text, font=font, fill=255)
    return canvas.tobytes()


def _has_cjk(font: ImageFont.FreeTypeFont) -> bool:
    """True when "会" draws differently from a codepoint no font has (so it is a real glyph)."""
    return _draw_probe(font, _CJK_PROBE) != _draw_probe(font, _MISSING_PROBE)


def _probe_face(path: str) -> FontFace | None:
    """The Simplified Chinese face of ``path`` if it draws Chinese, else None."""
    if not path or not Path(path).is_file():
        return None
    faces: list[tuple[int, ImageFont.FreeTypeFont]] = []
    for index in range(64):
        try:
            faces.append((index, ImageFont.truetype(path, 32, index=index)))
        except OSError:
            break
    if not faces:
        log.warning("share card: font %s cannot be opened", path)
        return None

    def is_sc(font: ImageFont.FreeTypeFont) -> bool:
        family = font.getname()[0] or ""
        return "SC" in family.split()

    faces.sort(key=lambda item: (not is_sc(item[1]), item[0]))
    index, font = faces[0]
    if not _has_cjk(font):
        log.warning("share card: font %s has no Chinese glyphs", path)
        return None
    return FontFace(path, index)


def _bold_sibling(path: str) -> str:
    for regular, bold in (("-Regular", "-Bold"), ("Regular", "Bold")):
        if regular in Path(path).name:
            candidate = Path(path).with_name(Path(path).name.replace(regular, bold, 1))
            if candidate.is_file():
                return str(candidate)
    return ""


def _fc_match() -> str:
    if not shutil.which("fc-match"):
        return ""
    try:
        result = subprocess.run(
            ["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _candidate_paths(configured: str) -> Iterator[str]:
    if configured:
        if not Path(configured).is_file():
            log.warning("share card: SHARE_CARD_FONT %s does not exist", configured)
        yield configured
    yield from KNOWN_FONTS
    yield _fc_match()  # only asked when nothing above worked


@lru_cache(maxsize=8)
def _resolve_faces(configured: str) -> tuple[FontFace, FontFace]:
    """(regular, bold) faces: SHARE_CARD_FONT, then well-known files, then fontconfig.

    Cached per configured path; a failure is not cached, so installing the fonts fixes a running
    worker without a restart.
    """
    tried: list[str] = []
    for path in _candidate_paths(configured):
        tried.append(path)
        regular = _probe_face(path)
        if regular is None:
            continue
        # A configured font is used as given (its bold sibling may be another licence).
        bold = None if path == configured else _probe_face(_bold_sibling(path))
        return regular, bold or regular
    raise CardFontMissing(
        "No font with Chinese glyphs for share cards. Install Debian's fonts-noto-cjk package "
        "(apt-get install fonts-noto-cjk) or set SHARE_CARD_FONT to a licensed CJK font file. "
        f"Tried: {', '.join(repr(path) for path in tried if path)}."
    )


@lru_cache(maxsize=32)
def _font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    # The basic layout engine: Chinese needs no shaping, and it keeps output independent of
    # whether libraqm happens to be installed.
    return ImageFont.truetype(
        face.path, size, index=face.index, layout_engine=ImageFont.Layout.BASIC
    )


def card_fonts() -> tuple[FontFace, FontFace]:
    """(regular, bold) faces used for cards; raises ``CardFontMissing`` when there is none."""
    return _resolve_faces(getattr(settings, "SHARE_CARD_FONT", "") or "")


def card_font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The card's font at ``size`` pixels (for measuring text the way the card does)."""
    regular, heavy = card_fonts()
    return _font(heavy if bold else regular, size)


@lru_cache(maxsize=8)
def _missing_glyph_image(font: ImageFont.FreeTypeFont) -> bytes:
    return _draw_probe(font, _MISSING_PROBE)


@lru_cache(maxsize=8192)
def _has_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    return _draw_probe(font, char) != _missing_glyph_image(font)


# --- Text ------------------------------------------------------------------------------------


def clean_text(text: str, font: ImageFont.FreeTypeFont) -> str:
    """One line of plain text: whitespace collapsed, control characters and glyphs the font
    lacks (emoji, rare symbols) removed, so nothing is drawn as a box."""
    text = " ".join((text or "").split())
    text = "".join(
        char
        for char in text
        if unicodedata.category(char) not in ("Cc", "Cs")
        and (char.isascii() or _has_glyph(font, char))
    )
    return " ".join(text.split())


def _separate(char: str) -> bool:
    """Characters that form a unit of their own (CJK, full-width forms, CJK punctuation)."""
    if char.isascii():
        return False
    return (
        unicodedata.east_asian_width(char) in ("W", "F")
        or char in NO_LINE_START
        or char in NO_LINE_END
    )


def _segments(text: str) -> list[str]:
    """Unbreakable pieces of ``text``: a CJK character, a Latin word or a single space, with
    kinsoku applied (closing punctuation glued to what precedes it, opening to what follows)."""
    atoms: list[str] = []
    word = ""
    for char in text:
        if char == " " or _separate(char):
            if word:
                atoms.append(word)
                word = ""
            atoms.append(char)
        else:
            word += char
    if word:
        atoms.append(word)

    segments: list[str] = []
    for atom in atoms:
        if segments and atom != " " and segments[-1] != " ":
            previous = segments[-1]
            if atom[0] in NO_LINE_START or previous[-1] in NO_LINE_END:
                segments[-1] = previous + atom
                continue
        segments.append(atom)
    return segments


def wrap_lines(
    text: str, font: ImageFont.FreeTypeFont, max_width: int, max_lines: int
) -> list[str]:
    """Break ``text`` into at most ``max_lines`` lines no wider than ``max_width``.

    Chinese may break between any two characters, Latin words stay whole unless a single word
    is wider than a line, and no line starts with closing punctuation (，。！？ …). Text that does
    not fit ends in "…". The text is expected to be cleaned already (``clean_text``).
    """
    if max_lines <= 0 or max_width <= 0:
        return []
    limit = max_lines * _CHARS_PER_LINE_CAP
    truncated = len(text) > limit
    text = " ".join(text[:limit].split())

    def fits(line: str) -> bool:
        return font.getlength(line) <= max_width

    lines: list[str] = []
    current = ""
    for segment in _segments(text):
        if len(lines) > max_lines:
            break
        if segment == " ":
            if current:
                current += " "
            continue
        if fits(current + segment):
            current += segment
            continue
        if current.strip():
            lines.append(current.rstrip())
            current = ""
        if fits(segment):
            current = segment
            continue
        for char in segment:  # a single piece wider than a line: cut it anywhere
            if current and not fits(current + char):
                lines.append(current)
                current = ""
            current += char
    if current.strip():
        lines.append(current.rstrip())

    if len(lines) > max_lines:
        truncated = True
        lines = lines[:max_lines]
    if truncated and lines:
        last = lines[-1]
        while last and not fits(last.rstrip(_BEFORE_ELLIPSIS_STRIP) + ELLIPSIS):
            last = last[:-1]
        lines[-1] = last.rstrip(_BEFORE_ELLIPSIS_STRIP) + ELLIPSIS
    return lines


def _fit_line(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> str:
    lines = wrap_lines(clean_text(text, font), font, max_width, 1)
    return lines[0] if lines else ""


# --- Images ----------------------------------------------------------------------------------


def _decode(data: bytes | None, size: tuple[int, int]) -> Image.Image | None:
    """``data`` cropped to ``size`` in RGB, or None for anything that is not a usable image.

    The pixel count is checked before decoding (and Pillow's decompression-bomb warning is an
    error here), so a small file claiming a huge picture costs nothing.
    """
    if not data:
        return None
    limit = MAX_SOURCE_PIXELS
    if Image.MAX_IMAGE_PIXELS:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "GIF", "WEBP"]) as image:
                if image.width * image.height > limit:
                    log.info("share card: image of %sx%s refused", image.width, image.height)
                    return None
                if image.format == "JPEG":
                    side = max(size)
                    image.draft("RGB", (side, side))
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "PA") or (
                    image.mode == "P" and "transparency" in image.info
                ):
                    rgba = image.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, BACKGROUND)
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    image = flat
                else:
                    image = image.convert("RGB")
                return ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
    except Exception:  # untrusted bytes: Pillow raises many kinds; any of them means "no image"
        log.info("share card: image not usable", exc_info=True)
        return None


def _circle_mask(side: int) -> Image.Image:
    big = Image.new("L", (side * 4, side * 4), 0)
    ImageDraw.Draw(big).ellipse((0, 0, side * 4 - 1, side * 4 - 1), fill=255)
    return big.resize((side, side), Image.Resampling.LANCZOS)


# --- Drawing ---------------------------------------------------------------------------------


def _pill(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    text: str,
    font: ImageFont.FreeTypeFont,
    fill: tuple[int, int, int],
    ink: tuple[int, int, int],
    max_width: int,
) -> int:
    """A rounded badge with ``text``; returns its right edge (``x`` if nothing was drawn)."""
    pad_x, height = 22, int(font.size) + 24
    text = _fit_line(text, font, max_width - 2 * pad_x)
    if not text:
        return x
    width = int(font.getlength(text)) + 2 * pad_x
    draw.rounded_rectangle((x, y, x + width, y + height), radius=height // 2, fill=fill)
    draw.text((x + width / 2, y + height / 2), text, font=font, fill=ink, anchor="mm")
    return x + width


def _draw_header(canvas: Image.Image, content: CardContent, bold: FontFace) -> None:
    draw = ImageDraw.Draw(canvas)
    cover = _decode(content.cover_image, (COVER_BOX[2] - COVER_BOX[0], COVER_BOX[3] - COVER_BOX[1]))
    if cover is not None:
        canvas.paste(cover, COVER_BOX[:2])
    else:
        draw.rectangle(COVER_BOX, fill=HEADER_FILL)
        font = _font(bold, 64)
        brand = _fit_line(content.brand, font, WIDTH - 2 * MARGIN)
        if brand:
            centre = ((COVER_BOX[0] + COVER_BOX[2]) / 2, (COVER_BOX[1] + COVER_BOX[3]) / 2)
            draw.text(centre, brand, font=font, fill=HEADER_TEXT, anchor="mm")
    badge_font = _font(bold, 30)
    right = _pill(draw, MARGIN, BADGE_TOP, content.kind_label, badge_font, PILL_FILL, INK, 360)
    left = right + 16 if right > MARGIN else MARGIN
    _pill(
        draw,
        left,
        BADGE_TOP,
        content.tier_label,
        badge_font,
        BADGE_FILL,
        BADGE_TEXT,
        WIDTH - MARGIN - left,
    )


def _draw_block(
    draw: ImageDraw.ImageDraw,
    top: int,
    text: str,
    font: ImageFont.FreeTypeFont,
    leading: int,
    max_lines: int,
    fill: tuple[int, int, int],
    min_lines: int,
) -> Box:
    lines = wrap_lines(clean_text(text, font), font, WIDTH - 2 * MARGIN, max_lines)
    for number, line in enumerate(lines):
        draw.text((MARGIN, top + number * leading), line, font=font, fill=fill)
    return (MARGIN, top, WIDTH - MARGIN, top + max(len(lines), min_lines) * leading)


def _draw_member(
    canvas: Image.Image, content: CardContent, regular: FontFace, bold: FontFace
) -> None:
    """The sharer, only with their consent (an empty name): avatar circle, name, a short line."""
    name_font = _font(bold, 34)
    x0, y0, x1, _y1 = MEMBER_BOX
    text_x = x0 + AVATAR_SIZE + 24
    name = _fit_line(content.member_name, name_font, x1 - text_x)
    if not name:
        return
    draw = ImageDraw.Draw(canvas)
    avatar_top = y0 + 6
    avatar = _decode(content.member_avatar, (AVATAR_SIZE, AVATAR_SIZE))
    if avatar is not None:
        canvas.paste(avatar, (x0, avatar_top), _circle_mask(AVATAR_SIZE))
    else:
        draw.ellipse(
            (x0, avatar_top, x0 + AVATAR_SIZE - 1, avatar_top + AVATAR_SIZE - 1), fill=ACCENT
        )
        draw.text(
            (x0 + AVATAR_SIZE / 2, avatar_top + AVATAR_SIZE / 2),
            name[0],
            font=_font(bold, 44),
            fill=(255, 255, 255),
            anchor="mm",
        )
    draw.text((text_x, avatar_top + 2), name, font=name_font, fill=INK)
    note = _fit_line(_("向你推荐"), _font(regular, 26), x1 - text_x)
    draw.text((text_x, avatar_top + 54), note, font=_font(regular, 26), fill=MUTED)


def _draw_qr(draw: ImageDraw.ImageDraw, link: str, regular: FontFace) -> Box:
    """The link as a QR code in QR_AREA; returns the box of its modules (quiet zone excluded)."""
    area_x0, area_y0, area_x1, area_y1 = QR_AREA
    if not link:
        return (area_x0, area_y0, area_x0, area_y0)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    try:
        code.add_data(link)
        code.make(fit=True)
    except DataOverflowError:
        log.warning("share card: link too long for a QR code (%d chars)", len(link))
        return (area_x0, area_y0, area_x0, area_y0)
    matrix = code.get_matrix()
    count = len(matrix)
    module = (area_x1 - area_x0) // count
    if module < 2:  # unreadable when printed this small; a card without a code is still useful
        return (area_x0, area_y0, area_x0, area_y0)
    side = module * count
    x0 = area_x0 + (area_x1 - area_x0 - side) // 2
    y0 = area_y0 + (area_y1 - area_y0 - side) // 2
    quiet = 12
    draw.rectangle((x0 - quiet, y0 - quiet, x0 + side + quiet - 1, y0 + side + quiet - 1), QR_LIGHT)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            if dark:
                x, y = x0 + col * module, y0 + row * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill=QR_DARK)
    caption_font = _font(regular, 26)
    caption = _fit_line(_("扫码查看详情"), caption_font, area_x1 - area_x0 + 2 * quiet)
    draw.text(
        ((area_x0 + area_x1) / 2, area_y1 + quiet + 10),
        caption,
        font=caption_font,
        fill=MUTED,
        anchor="ma",
    )
    return (x0, y0, x0 + side, y0 + side)


def render_card_with_layout(content: CardContent) -> tuple[bytes, dict[str, Box]]:
    """The card as JPEG bytes, and the boxes (left, top, right, bottom) of its parts.

    Boxes: "title" and "summary" (the lines drawn; the title at least one line high), "qr" (the
    code's modules only, quiet zone excluded), "member" (the fixed place of the sharer's name,
    plain background when the name is hidden). Raises ``CardFontMissing`` without a CJK font.
    """
    regular, bold = card_fonts()
    canvas = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(canvas)

    _draw_header(canvas, content, bold)
    title_box = _draw_block(
        draw, TITLE_TOP, content.title, _font(bold, TITLE_SIZE), TITLE_LEADING, TITLE_LINES, INK, 1
    )
    summary_box = _draw_block(
        draw,
        title_box[3] + SUMMARY_GAP,
        content.summary,
        _font(regular, SUMMARY_SIZE),
        SUMMARY_LEADING,
        SUMMARY_LINES,
        MUTED,
        0,
    )
    draw.line((MARGIN, DIVIDER_Y, WIDTH - MARGIN, DIVIDER_Y), fill=(224, 218, 208), width=2)
    _draw_member(canvas, content, regular, bold)
    qr_box = _draw_qr(draw, content.link, regular)

    brand_font = _font(bold, 32)
    brand = _fit_line(content.brand, brand_font, QR_AREA[0] - MARGIN - 40)
    if brand:
        draw.rectangle((MARGIN, BRAND_TOP + 4, MARGIN + 7, BRAND_TOP + 40), fill=ACCENT)
        draw.text((MARGIN + 24, BRAND_TOP), brand, font=brand_font, fill=ACCENT)

    out = io.BytesIO()
    # A fresh canvas and no metadata arguments: the JPEG carries no EXIF, ICC profile or comment.
    canvas.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    layout = {"title": title_box, "summary": summary_box, "qr": qr_box, "member": MEMBER_BOX}
    return out.getvalue(), layout


def render_card(content: CardContent) -> bytes:
    """The card as JPEG bytes (1080x1440). Raises ``CardFontMissing`` without a CJK font."""
    return render_card_with_layout(content)[0]
