"""The share funnel and the page cache: per-visitor work on cached landing pages, and what
invalidates them."""

from __future__ import annotations

from core import pagecache
from share.models import ShareSettings


def _landing_hit(request, response, **funnel) -> None:
    from share.views import landing_visitor

    landing_visitor(request, response, **funnel)


def connect() -> None:
    # The referral period is carried by each cached landing page (its cookie's lifetime).
    pagecache.invalidate_on_change(ShareSettings)
    pagecache.register_hit_handler("share.landing", _landing_hit)
