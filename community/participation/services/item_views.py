"""Page views of items, counted per tier and day.

A view is counted in the web process's memory (``core.counters``: cached outsider pages count
too, with no round trip at all), handed to a Redis hash once a second, and added to
``ItemViewCount`` in one upsert by ``item_views_flush``, run by beat every few seconds.
"""

from __future__ import annotations

from datetime import date

from django.core.cache import cache
from django.db import connection, transaction

from community.models import ItemViewCount
from core import pagecache
from core.clock import local_today
from core.counters import Buffer
from members.selectors import ViewerStatus

_COUNTING = "community:item-views"
_FLUSHING = "community:item-views:flushing"


def viewer_tier_code(viewer: ViewerStatus) -> str:
    """The bucket a view is counted in: the member's tier code, else the viewer kind."""
    if viewer.is_member and viewer.tier is not None:
        return viewer.tier.code
    return viewer.kind


def _write_views(pipeline, counts) -> None:
    key = cache.make_key(_COUNTING)
    for field, count in counts.items():
        pipeline.hincrby(key, field, count)


_views = Buffer(_write_views, counting=True)


def item_view_count(*, page_id: int, tier_code: str, day: date | None = None) -> None:
    """Count one view. Counting never fails a page: without Redis the views go uncounted and
    a warning is logged."""
    day = day or local_today()
    _views.add(f"{page_id}|{tier_code[:40]}|{day.isoformat()}")


def item_view_record(*, page, viewer: ViewerStatus) -> None:
    item_view_count(page_id=page.pk, tier_code=viewer_tier_code(viewer))


def item_views_flush() -> int:
    """Move the counted views into ``ItemViewCount``; returns the number of views moved.

    The counting hash is renamed first, so views counted during the flush go to a fresh hash.
    A batch renamed but not yet written (a worker died) is written by the next flush before a
    new one is taken. Pages deleted since are skipped.
    """
    _views.flush()  # what this process counted last
    client = pagecache.redis_client()
    counting, flushing = cache.make_key(_COUNTING), cache.make_key(_FLUSHING)
    if not client.exists(flushing):
        try:
            client.rename(counting, flushing)
        except Exception as error:  # noqa: BLE001 - nothing counted since the last flush
            if "no such key" in str(error).lower():
                return 0
            raise
    rows = client.hgetall(flushing)
    page_ids, tiers, days, counts = [], [], [], []
    for field, count in rows.items():
        page_id, tier_code, day = field.decode().split("|", 2)
        page_ids.append(int(page_id))
        tiers.append(tier_code)
        days.append(day)
        counts.append(int(count))
    if rows:
        table = connection.ops.quote_name(ItemViewCount._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (page_id, tier_code, day, count) "
                "SELECT v.page_id, v.tier_code, v.day, v.count "
                "FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::int[]) "
                "AS v(page_id, tier_code, day, count) "
                "WHERE EXISTS "
                "(SELECT 1 FROM community_gatedpage g WHERE g.page_ptr_id = v.page_id) "
                f"ON CONFLICT (page_id, tier_code, day) DO UPDATE SET count = {table}.count "
                "+ EXCLUDED.count",
                [page_ids, tiers, days, counts],
            )
    client.delete(flushing)
    return sum(counts)
