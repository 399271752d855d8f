"""Page views of items, counted per tier and day."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from community.models import ItemViewCount
from members.selectors import ViewerStatus


def viewer_tier_code(viewer: ViewerStatus) -> str:
    """The bucket a view is counted in: the member's tier code, else the viewer kind."""
    if viewer.is_member and viewer.tier is not None:
        return viewer.tier.code
    return viewer.kind


def item_view_record(*, page, viewer: ViewerStatus) -> None:
    """Count one view of ``page`` (one upsert; concurrent views never lose a count)."""
    table = connection.ops.quote_name(ItemViewCount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (page_id, tier_code, day, count) VALUES (%s, %s, %s, 1) "
            f"ON CONFLICT (page_id, tier_code, day) DO UPDATE SET count = {table}.count + 1",
            [page.pk, viewer_tier_code(viewer)[:40], timezone.localdate()],
        )
