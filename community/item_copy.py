"""A member's kept copy of an item page, and the row versions that decide when it is stale.

An item page for a member is the article (kept per access class, ``serving.article_html``)
and the parts around it that are the member's or change with everyone's actions: the
conversation, likes, the claim or registration box, waiting lists and draws, photos. Rendering
those parts costs some 8 ms, re-reading them after each change would be needed anyway, and a
member opens the same item again and again. So the whole page is kept per member and browser
(``core.pagecache.personal_copy``) under a key that names a *version* of every row those parts
read: one prepared statement returns, for each table, the count and newest ``xmin`` (the
PostgreSQL transaction that last wrote a row) of the rows the page reads. Any insert, update
or delete of such a row changes the version, so the next request renders afresh; nothing
has to remember to invalidate. Shared changes (the page, its tiers, comments' moderation)
bump the cache generation as before, and clock moments (windows opening and closing) cut
entry lifetimes as for every kept page.

What the versions do not cover is bounded by the copy's lifetime (``ITEM_COPY_TTL``, a few
seconds): a hold passing its end time, or another member's name or suspension moving a
waiting-list position.
"""

from __future__ import annotations

from django.db import connection

from community.hooks import item_version_parts

ITEM_COPY_TTL = 10


def rows_version(
    table: str, where: str, params: list, *, alias: str = "t", joins: str = ""
) -> tuple[str, list]:
    """An SQL expression that changes whenever a row of ``table`` matching ``where`` is
    inserted, updated or deleted: their count and the newest ``xmin`` among them."""
    table = connection.ops.quote_name(table)
    return (
        f"(SELECT count(*)::text || '.' || coalesce(max({alias}.xmin::text::bigint), 0)::text "
        f"FROM {table} {alias} {joins} WHERE {where})",
        params,
    )


def item_version_sql(page, member_id: int) -> tuple[str, list] | None:
    """One statement whose value names the versions of everything the parts of ``page``
    read for the member; None when no part reads anything (the page is kept by generation).

    Remembered on the page object per member: a routed page is kept per cache generation
    (``serving._route``) and served to the same members again and again, and what the parts
    answer depends only on the page's own fields and the member.
    """
    remembered = page.__dict__.setdefault("_item_version_sql", {})
    if member_id in remembered:
        return remembered[member_id]
    if len(remembered) >= 1000:
        remembered.clear()
    remembered[member_id] = statement = _item_version_sql(page, member_id)
    return statement


def _item_version_sql(page, member_id: int) -> tuple[str, list] | None:
    expressions, params = [], []
    for part in item_version_parts:
        for sql, part_params in part(page, member_id):
            expressions.append(sql)
            params.extend(part_params)
    if not expressions:
        return None
    return f"SELECT concat_ws('|', {', '.join(expressions)})", params
