"""The membership card (会员卡): its colours, its sections and its rotating check-in code.

**Why the code rotates.** A check-in code that a whole event shares can be forwarded to
registrants who never came. The card's code is bound to one member and to a 30-second time
step, and keyed by the server: ``<member id>-<step mod 10⁴>-<8-digit MAC>``, the MAC being an
HMAC-SHA256 (key derived from ``SECRET_KEY`` with its own salt) of the member id and the full
step. Only the server can make one, only for that member, and a code stays valid for the step
it was made in and the next (``ACCEPTED_STEPS``): 30 to 60 seconds. The card page fetches a
fresh code every step, so the member shows a live code; a screenshot older than a minute is
refused as expired (the MAC proves it is genuine, the step says it is old), which is what keeps
an absent registrant from being checked in by a friend at the door.

The step's last four digits travel in the code (the full step is the one nearest now with those
digits), so codes stay short enough to type when a camera cannot read them, and a code up to
about 41 hours old is still recognised as genuine-but-expired rather than as garbage.

**Sections.** The members app draws the card (tier colour, name, number); apps above it add
sections (points and tier progress, today's activities) through ``register_card_section``, as
they add export sections, so this app imports none of them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import qrcode
from django.utils.crypto import salted_hmac
from django.utils.html import format_html

from members.errors import CardCodeExpired, CardCodeInvalid
from members.models import Member

STEP_SECONDS = 30
ACCEPTED_STEPS = 1  # a code made in step s is accepted in steps s - 1 … s + 1
STEP_DIGITS = 4
MAC_DIGITS = 8
_KEY_SALT = "members.card.checkin-code"
_CODE = re.compile(rf"(\d{{1,12}})-(\d{{{STEP_DIGITS}}})-(\d{{{MAC_DIGITS}}})")


# --- colours ------------------------------------------------------------------------------------


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def safe_colour(colour: str | None, default: str = "#8a8a8a") -> str:
    """A tier's badge colour as ``#rrggbb``; anything else (staff typed a name) is the default."""
    if colour and re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
        return colour.lower()
    if colour and re.fullmatch(r"#[0-9a-fA-F]{3}", colour):
        return "#" + "".join(c * 2 for c in colour[1:]).lower()
    return default


def readable_foreground(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``. One of them always reaches
    at least 4.58:1 (WCAG AA for normal text needs 4.5:1), whatever the tier colour is."""
    background = safe_colour(background)
    dark, light = "#000000", "#ffffff"
    return dark if contrast_ratio(background, dark) >= contrast_ratio(background, light) else light


# --- the rotating check-in code -----------------------------------------------------------------


@dataclass(frozen=True)
class CardCode:
    text: str
    step: int
    expires_in: int  # seconds until the card fetches the next code


def current_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _mac(member_id: int, step: int) -> str:
    digest = salted_hmac(_KEY_SALT, f"{member_id}:{step}", algorithm="sha256").hexdigest()
    return str(int(digest[:16], 16) % 10**MAC_DIGITS).zfill(MAC_DIGITS)


def card_code_for(member: Member, *, now: datetime) -> CardCode:
    """The member's code for the current step."""
    step = current_step(now)
    text = f"{member.pk}-{step % 10**STEP_DIGITS:0{STEP_DIGITS}d}-{_mac(member.pk, step)}"
    expires_in = STEP_SECONDS - int(now.timestamp()) % STEP_SECONDS
    return CardCode(text=text, step=step, expires_in=expires_in)


def card_code_member_id(code: str, *, now: datetime) -> int:
    """The id of the member whose card shows ``code`` now; refuses forgeries (``CardCodeInvalid``)
    and genuine codes outside the accepted window (``CardCodeExpired``). Reads nothing."""
    text = "".join((code or "").split())
    match = _CODE.fullmatch(text)
    if match is None:
        raise CardCodeInvalid
    member_id, low, mac = int(match[1]), int(match[2]), match[3]
    now_step = current_step(now)
    modulus = 10**STEP_DIGITS
    # The step with these last digits nearest to now (a code can only come from the past).
    step = now_step - (now_step - low) % modulus
    if now_step - step > modulus // 2:
        step += modulus
    if not hmac.compare_digest(mac, _mac(member_id, step)):
        raise CardCodeInvalid
    if abs(now_step - step) > ACCEPTED_STEPS:
        raise CardCodeExpired
    return member_id


def qr_svg(text: str) -> str:
    """``text`` as an inline SVG QR code (dark modules on white, with a quiet zone), scaled by
    CSS: one path, no size of its own."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    quiet = 2
    size = len(matrix) + 2 * quiet
    path = "".join(
        f"M{x + quiet},{y + quiet}h1v1h-1z"
        for y, row in enumerate(matrix)
        for x, dark in enumerate(row)
        if dark
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {0}" role="img" '
        'shape-rendering="crispEdges"><rect width="{0}" height="{0}" fill="#fff"/>'
        '<path fill="#000" d="{1}"/></svg>',
        size,
        path,
    )


# --- sections other apps add --------------------------------------------------------------------


@dataclass(frozen=True)
class CardSection:
    """A part of the card an app above this one draws: a template and its context.
    ``needs_code``: the section is a reason to show the check-in QR code."""

    template: str
    context: dict = field(default_factory=dict)
    order: int = 100
    needs_code: bool = False


CardSectionSource = Callable[[Member, datetime], "CardSection | None"]
_sections: list[CardSectionSource] = []


def register_card_section(source: CardSectionSource) -> None:
    if source not in _sections:
        _sections.append(source)


def card_sections(member: Member, *, now: datetime) -> list[CardSection]:
    found = [section for source in _sections if (section := source(member, now)) is not None]
    return sorted(found, key=lambda section: section.order)
