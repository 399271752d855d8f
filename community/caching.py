"""What invalidates cached pages in the community, and when items change by the clock.

Receivers here only bump the page cache's generation (``core.pagecache.bump``): no business
rule. Anything that can alter what some viewer sees of the community bumps it: every save or
delete of a page of any type (publishing, unpublishing, editing, scheduling, moving and
reverting all save the page row), Wagtail's view restrictions, images (a cover's focal point
or file), comments (their text and moderation state are shown on public items) and the site
records that routing reads.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models.signals import m2m_changed, post_delete, post_save
from wagtail.images import get_image_model
from wagtail.models import Page, PageViewRestriction, Site

from community.models import GatedPage
from community.models_interaction import Comment
from core import pagecache


def _bump_for_page(sender, instance, **kwargs) -> None:
    if isinstance(instance, Page):
        pagecache.bump()


_TRANSITIONS_SQL = """
SELECT MIN(moment) FROM (
    SELECT MIN(go_live_at) AS moment FROM wagtailcore_page WHERE go_live_at > %(now)s
    UNION ALL SELECT MIN(expire_at) FROM wagtailcore_page WHERE expire_at > %(now)s
    UNION ALL SELECT MIN(early_access_until) FROM community_gatedpage
        WHERE early_access_until > %(now)s
    UNION ALL SELECT MIN(LEAST(
            CASE WHEN valid_from > %(now)s THEN valid_from END,
            CASE WHEN valid_until > %(now)s THEN valid_until END))
        FROM community_offerpage WHERE valid_from > %(now)s OR valid_until > %(now)s
    UNION ALL SELECT MIN(LEAST(
            CASE WHEN registration_opens_at > %(now)s THEN registration_opens_at END,
            CASE WHEN registration_closes_at > %(now)s THEN registration_closes_at END,
            CASE WHEN cancellation_deadline > %(now)s THEN cancellation_deadline END,
            CASE WHEN starts_at > %(now)s THEN starts_at END,
            CASE WHEN ends_at > %(now)s THEN ends_at END))
        FROM community_activitypage
) AS moments
"""


def next_item_transition(now: datetime) -> datetime | None:
    """The next scheduled go-live, expiry, end of early access, or opening or closing of an
    offer or activity window: the moment a cached page may stop being right."""
    with connection.cursor() as cursor:
        cursor.execute(_TRANSITIONS_SQL, {"now": now})
        row = cursor.fetchone()
    return row[0] if row else None


def _count_outsider_view(request, response, *, page: int) -> None:
    from community.participation.services import item_view_count

    item_view_count(page_id=page, tier_code="outsider")


def connect() -> None:
    from django.apps import apps

    # Every page type (Wagtail's base page and each of ours); no receiver on other models.
    for model in apps.get_models():
        if issubclass(model, Page):
            uid = f"pagecache-page-{model._meta.label}"
            post_save.connect(_bump_for_page, sender=model, dispatch_uid=f"{uid}-save")
            post_delete.connect(_bump_for_page, sender=model, dispatch_uid=f"{uid}-delete")
    m2m_changed.connect(
        pagecache.bump_on_change, sender=GatedPage.tiers.through, dispatch_uid="pagecache-tiers"
    )
    pagecache.invalidate_on_change(PageViewRestriction, Site, get_image_model(), Comment)
    pagecache.register_transition_source(next_item_transition)
    pagecache.register_hit_handler("community.item_view", _count_outsider_view)
