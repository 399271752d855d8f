"""Extension points other parts of the community use to add to an item's page.

Comments, claims and registrations add their own context (forms, counts, the member's claim)
without the serving code knowing about them. Each entry is a callable
``(page, request, viewer, decision) -> dict`` and must respect ``decision``.
"""

from __future__ import annotations

from collections.abc import Callable

item_context_extensions: list[Callable] = []
