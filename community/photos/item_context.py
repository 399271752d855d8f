"""The photo section of an activity's page, registered in ``community.hooks``.

With full access: the latest photos, a link to the wall and whether the member may post.
With the teaser only: the photos staff featured whose members agreed to appear there. The
section is read per request (it is not part of the article kept per access class).
"""

from __future__ import annotations

from community import gate
from community.hooks import item_context_extensions, item_version_parts
from community.models import ActivityPage
from community.photos import selectors
from members.selectors import ViewerStatus


def photos_context(page, request, viewer: ViewerStatus, decision: gate.Decision) -> dict:
    if not isinstance(page, ActivityPage) or not decision.visible:
        return {}
    strip = selectors.wall_strip(activity=page, viewer=viewer, decision=decision)
    if not strip:
        return {}
    return {"item_includes": ["community/photos/_strip.html"], **strip}


def photos_versions(page, member_id: int) -> list[tuple[str, list]]:
    """``community.hooks.item_version_parts`` entry: the activity's photos (the member's
    check-in is a registration, which the participation entry covers)."""
    from community.item_copy import rows_version
    from community.models_photos import ActivityPhoto

    if not isinstance(page, ActivityPage) or page.photo_limit <= 0:
        return []
    return [rows_version(ActivityPhoto._meta.db_table, "t.activity_id = %s", [page.pk])]


if photos_context not in item_context_extensions:
    item_context_extensions.append(photos_context)
if photos_versions not in item_version_parts:
    item_version_parts.append(photos_versions)
