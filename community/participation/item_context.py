"""The claim and registration boxes on an item page, and its view count.

Registered in ``community.hooks.item_context_extensions`` when the app is ready. The boxes are
added only when the gate says FULL: a viewer with a teaser gets neither the box nor any code.
"""

from __future__ import annotations

import uuid

from community import gate
from community.hooks import item_context_extensions
from community.models import ActivityPage, OfferPage
from community.participation import selectors, services
from members.selectors import ViewerStatus


def participation_context(page, request, viewer: ViewerStatus, decision: gate.Decision) -> dict:
    # Outsiders' views are counted by the page cache's hit handler (``community.item_view``),
    # which runs for cached copies too.
    if viewer.kind not in ("staff", "outsider") and not getattr(request, "is_preview", False):
        services.item_view_record(page=page, viewer=viewer)
    if not decision.full:
        return {}
    if isinstance(page, OfferPage):
        return {
            "item_includes": ["community/_claim.html"],
            "offer_panel": selectors.offer_panel(offer=page, viewer=viewer, decision=decision),
            # One key per rendered form: a double submission claims once.
            "claim_key": uuid.uuid4().hex,
        }
    if isinstance(page, ActivityPage):
        return {
            "item_includes": ["community/_registration.html"],
            "activity_panel": selectors.activity_panel(
                activity=page, viewer=viewer, decision=decision
            ),
        }
    return {}


if participation_context not in item_context_extensions:
    item_context_extensions.append(participation_context)
