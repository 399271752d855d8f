"""What each app holds about a member, and how each app forgets it.

``members`` cannot import the apps above it (share → community → loyalty → members → core), yet
an export and an erasure must cover their tables. So each app registers here, from its
``AppConfig.ready``, the sections it contributes to a member's export and the function that
erases its personal data when the member leaves, the way Wagtail hooks work. Adding a table
with personal data to an app means adding it to that app's ``privacy.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise

from members.models import Member

Rows = list[dict[str, Any]]
Collector = Callable[[Member], "Rows | dict[str, Any]"]
# Files of the member's own (their photos): (name inside the section's folder, storage name).
FileCollector = Callable[[Member], "list[tuple[str, str]]"]


@dataclass(frozen=True)
class Section:
    """One part of the export: ``<name>.json``, and ``<name>.csv`` when it is a list of rows.

    ``title`` and ``description`` are lazy translations: the README is written in the member's
    language. ``collect`` reads; it never writes.
    """

    name: str
    title: Promise | str
    description: Promise | str
    collect: Collector
    files: FileCollector | None = None  # copied into ``<name>/`` from the media storage


@dataclass(frozen=True)
class Departure:
    """Who is leaving, as they were known before anything was erased.

    Erasers need the old names to find where other members wrote them (an @-mention) and the
    old avatar to drop cached copies.
    """

    member: Member
    names: tuple[str, ...]
    weibo_uid: str
    avatar_url: str
    placeholder_name: str
    placeholder_text: str


Eraser = Callable[[Departure], None]

_sections: dict[str, Section] = {}
_erasers: dict[str, Eraser] = {}


def register_section(section: Section) -> None:
    """Add (or, on a repeated import, replace) a section of the export; order is kept."""
    _sections[section.name] = section


def register_eraser(name: str, eraser: Eraser) -> None:
    """Add the function that erases one app's personal data of a departing member.

    It runs inside ``member_leave``'s transaction with the member row locked, after the sealed
    copy is made. It must leave ledger sums and counts as they are: it blanks text, it does not
    delete rows that other figures are made of.
    """
    _erasers[name] = eraser


def sections() -> list[Section]:
    return list(_sections.values())


def erasers() -> list[tuple[str, Eraser]]:
    return list(_erasers.items())
