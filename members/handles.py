"""Members' @handles: the Weibo screen name, normalised, unique among members.

Weibo keeps screen names unique, so a member's handle is their screen name as Weibo last told
us, normalised (Unicode NFKC, case folded, surrounding space removed) so that ``@Rain`` and
``@ｒａｉｎ`` name the same member. The database keeps the normalised handle unique.

Our copy can go stale: a member renames themselves on Weibo, and someone else takes the old name
and signs in here while the first member has not signed in since. The latest refresh wins: the
newcomer's login takes the handle and the stale holder has none until their next login brings
their new name (``members.services``). Display names are chosen freely and are never matched.
"""

from __future__ import annotations

import unicodedata

HANDLE_MAX_LENGTH = 30  # Weibo screen names are 4–30 characters


def normalise_handle(name: str | None) -> str | None:
    """The handle for a screen name, or None when there is none to give."""
    handle = unicodedata.normalize("NFKC", name or "").casefold().strip()
    if not handle or len(handle) > 100 or any(char.isspace() or char == "@" for char in handle):
        return None
    return handle
