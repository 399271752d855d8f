"""@handles in comment text: finding them, and showing the ones that name a member as links.

A mention is "@" followed by a run of characters up to a space or punctuation. Chinese text
often runs on after a name ("@小王你好"), so a run names the member whose handle is its longest
prefix; handles are unique (``members.handles``), so that member is one or none. Matching is on
normalised text (``normalise_handle``): ``@RAIN`` names the member whose screen name is "Rain".
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from urllib.parse import quote

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from members.handles import HANDLE_MAX_LENGTH, normalise_handle

MENTION = re.compile(
    rf"@([^\s@,.!?;:，。！？、；：()（）\[\]【】<>《》\"'“”‘’]{{1,{HANDLE_MAX_LENGTH}}})"
)
# Where a mention links: the member's Weibo profile by screen name, as Weibo links @names.
PROFILE_URL = "https://weibo.com/n/{name}"


def handles_in(text: str) -> list[str]:
    """The runs written after each "@", in order (not yet resolved to anyone)."""
    return MENTION.findall(text or "")


def prefixes(runs: Iterable[str]) -> set[str]:
    """Every handle one of ``runs`` could name: the normalised forms of all their prefixes."""
    found = set()
    for run in runs:
        for end in range(1, len(run) + 1):
            handle = normalise_handle(run[:end])
            if handle:
                found.add(handle)
    return found


def _longest(run: str, handles: Container[str]) -> tuple[int, str | None]:
    for end in range(len(run), 0, -1):
        handle = normalise_handle(run[:end])
        if handle and handle in handles:
            return end, handle
    return 0, None


def longest_match(run: str, handles: Container[str]) -> str | None:
    """The handle among ``handles`` that ``run`` names (its longest prefix that is one)."""
    return _longest(run, handles)[1]


def render(text: str, links: Mapping[str, str]) -> SafeString:
    """``text`` as HTML (escaped, line breaks kept) with each mention of a handle in ``links``
    (handle → screen name) shown as a link; every other "@…" stays plain text."""
    parts: list[str] = []
    position = 0
    if links:
        for match in MENTION.finditer(text):
            end, handle = _longest(match.group(1), links)
            if handle is None:
                continue
            parts.append(escape(text[position : match.start()]))
            written = text[match.start() : match.start() + 1 + end]
            parts.append(
                format_html(
                    '<a class="mention" href="{}" rel="nofollow noopener noreferrer">{}</a>',
                    PROFILE_URL.format(name=quote(links[handle])),
                    written,
                )
            )
            position = match.start() + 1 + end
    parts.append(escape(text[position:]))
    html = "".join(str(part) for part in parts)
    return mark_safe(html.replace("\r\n", "\n").replace("\n", "<br>"))  # parts escaped above
