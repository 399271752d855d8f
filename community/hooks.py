"""Extension points other parts of the community use to add to an item's page.

Comments, claims and registrations add their own context (forms, counts, the member's claim)
without the serving code knowing about them. Each entry is a callable
``(page, request, viewer, decision) -> dict`` and must respect ``decision``.
"""

from __future__ import annotations

from collections.abc import Callable

item_context_extensions: list[Callable] = []

# What a member's kept copy of an item page depends on (``community.item_copy``): each entry is
# a callable ``(page, member_id) -> list[tuple[str, list]]`` returning SQL expressions (with their
# parameters) whose values change whenever a row the entry's part of the page reads changes.
# An extension that adds to the page must add here what its part reads.
item_version_parts: list[Callable] = []

# ``(request, page) -> bool``: True when this request must render the item page afresh rather
# than from the member's kept copy (a comment draft waiting to be put back in its form).
item_copy_blockers: list[Callable] = []
