"""Text normalisation for Chinese: search and keyword matching compare normalised text."""

from __future__ import annotations

import unicodedata


def normalise_search_text(text: str) -> str:
    """NFKC (full-width → half-width), case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())
