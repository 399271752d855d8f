"""What changed between two consent versions, per language, for the reviewer to read.

A unified diff by line (``difflib``), with the changed characters of a changed line marked:
Chinese paragraphs are long lines, and a reviewer must see which words moved, not just that a
paragraph did. The result is plain data; the template escapes every piece of text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from members.models import ConsentText

CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    """One line of the diff: ``kind`` is "same", "added", "removed" or "gap" (lines left out);
    ``segments`` pairs pieces of the line's text with whether that piece changed (marked only
    inside a changed line; a wholly added or removed line is marked by its ``kind``)."""

    kind: str
    segments: tuple[tuple[str, bool], ...] = ()
    old_number: int | None = None
    new_number: int | None = None


@dataclass
class FieldDiff:
    label: str
    lines: list[DiffLine] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.lines)


@dataclass
class LanguageDiff:
    language: str
    label: str
    fields: list[FieldDiff]

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.fields)


def _marked(
    old: str, new: str
) -> tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]]:
    """The two lines cut into unchanged and changed pieces, character by character."""
    old_parts: list[tuple[str, bool]] = []
    new_parts: list[tuple[str, bool]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if old[i1:i2]:
            old_parts.append((old[i1:i2], tag != "equal"))
        if new[j1:j2]:
            new_parts.append((new[j1:j2], tag != "equal"))
    return tuple(old_parts), tuple(new_parts)


def text_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> list[DiffLine]:
    """A unified diff of two texts, ``context`` unchanged lines around each change."""
    if old == new:
        return []
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    lines: list[DiffLine] = []
    for group in matcher.get_grouped_opcodes(context):
        if lines or group[0][1] > 0 or group[0][3] > 0:
            lines.append(DiffLine("gap"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    text = old_lines[i1 + offset]
                    lines.append(
                        DiffLine("same", ((text, False),), i1 + offset + 1, j1 + offset + 1)
                    )
                continue
            removed = [
                DiffLine("removed", ((old_lines[i], False),), old_number=i + 1)
                for i in range(i1, i2)
            ]
            added = [
                DiffLine("added", ((new_lines[j], False),), new_number=j + 1) for j in range(j1, j2)
            ]
            if tag == "replace":  # pair the lines and mark what changed inside each pair
                for k in range(min(len(removed), len(added))):
                    old_marks, new_marks = _marked(old_lines[i1 + k], new_lines[j1 + k])
                    removed[k] = DiffLine("removed", old_marks, old_number=i1 + k + 1)
                    added[k] = DiffLine("added", new_marks, new_number=j1 + k + 1)
            lines.extend(removed)
            lines.extend(added)
    return lines


def consent_text_diff(previous: ConsentText | None, text: ConsentText) -> list[LanguageDiff]:
    """The changes from ``previous`` (None: an empty text) to ``text``, language by language."""

    def value(source: ConsentText | None, name: str) -> str:
        return getattr(source, name) if source is not None else ""

    languages = [
        ("zh-hans", _("简体中文"), [("title", _("标题")), ("body", _("正文"))]),
        ("en", _("英文"), [("title_en", _("标题")), ("body_en", _("正文"))]),
    ]
    return [
        LanguageDiff(
            code,
            str(label),
            [
                FieldDiff(str(field_label), text_diff(value(previous, name), value(text, name)))
                for name, field_label in names
            ],
        )
        for code, label, names in languages
    ]
