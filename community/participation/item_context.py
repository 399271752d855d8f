"""The claim and registration boxes on an item page, and its view count.

Registered in ``community.hooks.item_context_extensions`` when the app is ready. The boxes are
added only when the gate says FULL: a viewer with a teaser gets neither the box nor any code.
"""

from __future__ import annotations

import uuid

from community import gate
from community.hooks import item_context_extensions, item_version_parts
from community.models import ActivityPage, OfferPage
from community.participation import selectors, services
from core import pagecache
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


def count_member_view(request, response, *, page) -> None:
    """A member's view of an item served from their kept copy still counts (``serving``)."""
    from members.selectors import viewer_for_request

    services.item_view_record(page=page, viewer=viewer_for_request(request))


def participation_versions(page, member_id: int) -> list[tuple[str, list]]:
    """``community.hooks.item_version_parts`` entry: what the claim or registration box
    reads (stock and seats, the waiting list, draws, the member's claims and points)."""
    from community.item_copy import rows_version
    from community.models_allocation import Draw, DrawEntry, ItemAllocation, OfferWaitlistEntry
    from community.models_participation import (
        ActivitySeats,
        OfferClaim,
        OfferClaimCancellation,
        OfferCode,
        OfferInventory,
        Registration,
    )
    from loyalty.models import PointsAccount

    if not isinstance(page, OfferPage | ActivityPage):
        return []
    item = [page.pk]
    parts = [
        rows_version(ItemAllocation._meta.db_table, "t.item_id = %s", item),
        rows_version(Draw._meta.db_table, "t.item_id = %s", item),
        rows_version(
            DrawEntry._meta.db_table,
            "d.item_id = %s",
            item,
            joins=f"JOIN {Draw._meta.db_table} d ON d.id = t.draw_id",
        ),  # fmt: skip
    ]
    if isinstance(page, OfferPage):
        codes = OfferCode._meta.db_table
        parts += [
            rows_version(OfferInventory._meta.db_table, "t.offer_id = %s", item),
            rows_version(OfferWaitlistEntry._meta.db_table, "t.offer_id = %s", item),
            rows_version(
                OfferClaim._meta.db_table,
                "t.offer_id = %s AND t.member_id = %s",
                [page.pk, member_id],
            ),  # fmt: skip
            rows_version(
                OfferClaimCancellation._meta.db_table,
                "c.offer_id = %s AND c.member_id = %s",
                [page.pk, member_id],
                joins=f"JOIN {OfferClaim._meta.db_table} c ON c.id = t.claim_id",
            ),  # fmt: skip
            (f"(SELECT count(*)::text FROM {codes} WHERE offer_id = %s)", item),
            rows_version(PointsAccount._meta.db_table, "t.member_id = %s", [member_id]),
        ]
    else:
        parts += [
            rows_version(ActivitySeats._meta.db_table, "t.activity_id = %s", item),
            rows_version(Registration._meta.db_table, "t.activity_id = %s", item),
        ]
    return parts


if participation_context not in item_context_extensions:
    item_context_extensions.append(participation_context)
if participation_versions not in item_version_parts:
    item_version_parts.append(participation_versions)
pagecache.register_hit_handler("community.member_item_view", count_member_view)
