"""Readable text on a brand colour (WCAG 2.x relative luminance and contrast ratio).

Staff pick each tier's badge colour; the text on it is chosen here, black or white, whichever
contrasts more. One of the two always reaches at least 4.58:1 against any opaque colour, so
every tier badge meets WCAG AA for normal text whatever colour staff choose.
"""

from __future__ import annotations

import re

BLACK = "#000000"
WHITE = "#ffffff"
AA_NORMAL_TEXT = 4.5
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_hex(colour: str) -> tuple[int, int, int] | None:
    """``#c9a227`` or ``#ccc`` as an RGB triple; None for anything else."""
    match = _HEX.match((colour or "").strip())
    if not match:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    a, b = parse_hex(first), parse_hex(second)
    if a is None or b is None:
        raise ValueError(f"not a hex colour: {first!r} / {second!r}")
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable_ink(background: str) -> str:
    """Black or white, whichever is easier to read on ``background``."""
    if parse_hex(background) is None:
        return WHITE
    return max((WHITE, BLACK), key=lambda ink: contrast_ratio(background, ink))
