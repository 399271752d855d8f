"""The share card picture: what a Weibo reader sees, and what must never reach Weibo."""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
import qrcode
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw

from share import card
from share.card import (
    CardContent,
    CardFontMissing,
    card_font,
    card_fonts,
    content_fingerprint,
    render_card,
    render_card_with_layout,
    wrap_lines,
)

LINK = "https://club.example.com/s/AbCdEfGhIjKlMnOp/"
TOFU = "\U000f0000"  # a private-use codepoint no font draws


def content(**fields) -> CardContent:
    base = {
        "title": "会员俱乐部米兰之旅",
        "summary": "与设计师一起走进时装周后台。",
        "link": LINK,
        "tier_label": "金卡及以上专享",
        "kind_label": "活动",
        "brand": "品牌会员俱乐部",
    }
    return CardContent(**{**base, **fields})


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def crop(data: bytes, box: tuple[int, int, int, int]) -> Image.Image:
    return image_of(data).convert("RGB").crop(box)


def jpeg(size=(1600, 1000), **save_args) -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 80):
        draw.rectangle((x, 0, x + 40, size[1]), fill=(240, 200, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", **save_args)
    return out.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# --- The file --------------------------------------------------------------------------------


def test_card_is_a_portrait_jpeg_without_any_metadata_of_the_cover():
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cover = jpeg(exif=exif, icc_profile=icc, comment=b"shot at home")
    assert image_of(cover).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the cover really has GPS

    data = render_card(content(cover_image=cover, member_name="小林", member_avatar=cover))

    image = image_of(data)
    assert image.format == "JPEG"
    assert image.size == (1080, 1440)
    assert len(data) < 600_000  # far below Weibo's 5 MB
    assert not image.getexif()
    assert not {"exif", "icc_profile", "comment"} & set(image.info)
    assert b"SecretPhoneMaker" not in data
    assert b"shot at home" not in data


def test_cover_is_drawn_when_given():
    with_cover = render_card(content(cover_image=jpeg()))
    without = render_card(content())
    box = (0, 120, 1080, 500)  # below the badges
    assert ImageChops.difference(crop(with_cover, box), crop(without, box)).getbbox()


def test_same_content_gives_identical_bytes():
    cover = jpeg()
    first = render_card(content(cover_image=cover, member_name="小林", member_avatar=cover))
    again = render_card(content(cover_image=cover, member_name="小林", member_avatar=cover))
    assert first == again


# --- Chinese text ----------------------------------------------------------------------------


def test_the_font_draws_simplified_chinese():
    regular, bold = card_fonts()
    assert "SC" in card_font(40).getname()[0].split()
    assert bold.path  # the title has a face of its own when the font family has a bold


def test_chinese_title_is_drawn_with_real_glyphs():
    chinese, layout = render_card_with_layout(content(title="会员俱乐部米兰之旅"))
    tofu = render_card(content(title=TOFU * 9))
    other = render_card(content(title="春季新品私享品鉴会"))
    box = layout["title"]

    # A font without Chinese would draw the same "missing glyph" shapes for all three titles.
    assert ImageChops.difference(crop(chinese, box), crop(tofu, box)).getbbox()
    assert ImageChops.difference(crop(chinese, box), crop(other, box)).getbbox()
    # And the title is really drawn: dark ink in its box.
    assert min(crop(chinese, box).convert("L").getextrema()) < 80


def test_long_chinese_title_wraps_to_three_lines_with_ellipsis_and_kinsoku():
    font = card_font(56, bold=True)
    width = 936
    per_line = int(width // font.getlength("会"))
    # Built so that a naive break would put "，" and "。" at the start of lines 2 and 3.
    text = "会" * per_line + "，" + "员" * (per_line - 1) + "。" + "俱乐部活动" * 20

    lines = wrap_lines(text, font, width, 3)

    assert 1 < len(lines) <= 3
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= width for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)


def test_short_title_is_one_line_without_ellipsis():
    assert wrap_lines("会员俱乐部米兰之旅", card_font(56, bold=True), 936, 3) == [
        "会员俱乐部米兰之旅"
    ]


def test_latin_words_are_not_split_across_lines():
    font = card_font(34)
    text = "本次活动 Milano Fashion Week 幕后参观，Exclusive backstage tour 与设计师交流 " * 4

    lines = wrap_lines(text, font, 500, 30)

    assert len(lines) > 3
    words_drawn = [word for line in lines for word in re.findall(r"[A-Za-z]+", line)]
    assert words_drawn == re.findall(r"[A-Za-z]+", text)


def test_odd_text_still_renders():
    odd = [
        content(title="", summary=""),
        content(title="🎉🎉🎉", summary="😀" * 50),
        content(title="会" * 5000, summary="员" * 5000, member_name="名" * 200),
        content(title="a\x00b\tc\nd\ud800", summary="x" * 3000, kind_label="活动" * 50),
        content(title="Supercalifragilisticexpialidocious" * 20, link=""),
    ]
    for item in odd:
        assert image_of(render_card(item)).size == (1080, 1440)


# --- QR code ---------------------------------------------------------------------------------


def test_qr_code_encodes_the_tracked_link():
    data, layout = render_card_with_layout(content())
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(LINK)
    code.make(fit=True)
    matrix = code.get_matrix()

    region = crop(data, layout["qr"]).convert("L")
    count = len(matrix)
    assert region.width == region.height
    assert region.width % count == 0
    module = region.width // count
    assert module >= 4  # large enough to scan from a phone screen
    for row in range(count):
        for col in range(count):
            value = region.getpixel((col * module + module // 2, row * module + module // 2))
            assert (value < 128) == matrix[row][col], (row, col, value)


# --- Bad images ------------------------------------------------------------------------------


def test_undecodable_cover_and_avatar_are_left_out():
    plain = render_card(content(member_name="小林"))
    broken = render_card(
        content(cover_image=b"not an image", member_name="小林", member_avatar=b"\xff\xd8junk")
    )
    assert broken == plain


def test_decompression_bomb_header_is_treated_as_no_image():
    bomb = png_header_claiming(60000, 60000)
    plain = render_card(content(member_name="小林"))
    assert render_card(content(cover_image=bomb, member_name="小林", member_avatar=bomb)) == plain


@pytest.mark.parametrize("limit", [200_000, 300_000])  # Pillow's error, and its warning
def test_images_over_the_pixel_limit_are_treated_as_no_image(monkeypatch, limit):
    cover = jpeg(size=(1000, 500))  # 500 000 pixels
    plain = render_card(content())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    assert render_card(content(cover_image=cover)) == plain


# --- The member ------------------------------------------------------------------------------


def test_member_place_is_empty_when_the_name_is_hidden():
    data, layout = render_card_with_layout(content(member_name="", member_avatar=jpeg()))
    low, high = zip(*crop(data, layout["member"]).getextrema(), strict=True)
    background = card.BACKGROUND
    assert all(abs(value - b) <= 6 for value, b in zip(low, background, strict=True))
    assert all(abs(value - b) <= 6 for value, b in zip(high, background, strict=True))


def test_member_name_and_avatar_are_shown_when_agreed():
    data, layout = render_card_with_layout(content(member_name="小林", member_avatar=jpeg()))
    assert min(crop(data, layout["member"]).convert("L").getextrema()) < 80


# --- Fingerprint -----------------------------------------------------------------------------


def test_fingerprint_is_stable_and_changes_with_every_field():
    original = content(member_name="小林", member_avatar=b"avatar", cover_image=b"cover")
    assert content_fingerprint(original) == content_fingerprint(dataclasses.replace(original))

    seen = {content_fingerprint(original)}
    for field in dataclasses.fields(CardContent):
        value = getattr(original, field.name)
        changed = value + b"!" if isinstance(value, bytes) else f"{value}!"
        seen.add(content_fingerprint(dataclasses.replace(original, **{field.name: changed})))
    seen.add(content_fingerprint(dataclasses.replace(original, cover_image=None)))
    seen.add(content_fingerprint(dataclasses.replace(original, cover_image=b"")))
    assert len(seen) == len(dataclasses.fields(CardContent)) + 3


# --- Fonts -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_font_lookup():
    card._resolve_faces.cache_clear()
    yield
    card._resolve_faces.cache_clear()


def test_share_card_font_setting_is_used(settings, fresh_font_lookup):
    serif = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
    if not Path(serif).is_file():
        pytest.skip("Noto Serif CJK not installed")
    settings.SHARE_CARD_FONT = serif
    assert card_fonts()[0].path == serif


def test_without_a_chinese_font_rendering_fails_loudly(settings, monkeypatch, fresh_font_lookup):
    latin_only = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not Path(latin_only).is_file():
        pytest.skip("DejaVu Sans not installed")
    settings.SHARE_CARD_FONT = latin_only
    monkeypatch.setattr(card, "KNOWN_FONTS", ())
    monkeypatch.setattr(card, "_fc_match", lambda: latin_only)  # fontconfig offers no CJK

    with pytest.raises(CardFontMissing, match="fonts-noto-cjk"):
        render_card(content())
