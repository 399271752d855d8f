"""Reads of community items, always through the gate.

SQL narrows the candidates (so listings paginate in the database and their query count does not
grow with the number of items); ``gate.decide`` stays the final judge of every item shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.db.models.query import prefetch_related_objects
from django.utils import timezone

from community import gate
from community.models import GatedPage
from core.text import normalise_search_text
from members.selectors import ViewerStatus

FEED_PAGE_SIZE = 20
_PREFETCH = ("tiers",)
_RELATED = ("min_tier", "early_access_tier", "cover_image")


@dataclass(frozen=True)
class Entry:
    """One item as a viewer may see it on a surface."""

    page: GatedPage
    decision: gate.Decision

    @property
    def locked(self) -> bool:
        return not self.decision.full


def _allowed_for(viewer: ViewerStatus, now):
    """SQL mirror of the gate's FULL rule for ``viewer`` (a prefilter, never the last word)."""
    public = Q(access=GatedPage.Access.PUBLIC)
    if not viewer.is_member:
        return public
    tier = viewer.tier
    base = Q(access=GatedPage.Access.MEMBERS)
    if tier is not None:
        in_tiers = GatedPage.tiers.through.objects.filter(
            gatedpage_id=OuterRef("pk"), tier_id=tier.pk
        )
        base |= Q(access=GatedPage.Access.MIN_TIER, min_tier__rank__lte=tier.rank)
        base |= Q(access=GatedPage.Access.TIERS) & Exists(in_tiers)
        early_ok = (
            Q(early_access_until__isnull=True)
            | Q(early_access_until__lte=now)
            | Q(early_access_tier__rank__lte=tier.rank)
        )
    else:
        early_ok = Q(early_access_until__isnull=True) | Q(early_access_until__lte=now)
    return public | (base & early_ok)


def candidates(viewer: ViewerStatus, *, surface: gate.Surface, home=None):
    now = timezone.now()
    qs = GatedPage.objects.live().filter(Q(expire_at__isnull=True) | Q(expire_at__gt=now))
    if home is not None:
        qs = qs.descendant_of(home)
    if viewer.kind == "staff":
        return qs  # (an empty Q() OR'd with another would silently become that other filter)
    allowed = _allowed_for(viewer, now)
    if surface in gate.FULL_ONLY_SURFACES:
        return qs.filter(allowed)
    return qs.filter(allowed | Q(hide_when_locked=False))


def _entries(pages, viewer: ViewerStatus, surface: gate.Surface) -> list[Entry]:
    pages = list(pages)
    prefetch_related_objects(pages, *_PREFETCH)
    entries = []
    for page in pages:
        decision = gate.decide(viewer, page, surface)
        if decision.visible:
            entries.append(Entry(page, decision))
    return entries


def _specific_page(qs):
    """The items of ``qs`` as ``GatedPage`` rows, in one query whatever types are present.

    Every surface listing items reads only the fields all items share (teaser, access rule,
    body); the page type comes from the content type, so no per-type query is needed.
    """
    return list(qs.select_related(*_RELATED))


def feed_page(*, viewer: ViewerStatus, home=None, page_number=None, per_page=FEED_PAGE_SIZE):
    qs = candidates(viewer, surface=gate.Surface.LISTING, home=home).order_by(
        "-first_published_at", "-pk"
    )
    paginator = Paginator(qs, per_page)
    page = paginator.get_page(page_number)
    entries = _entries(_specific_page(page.object_list), viewer, gate.Surface.LISTING)
    return {"page": page, "entries": entries}


def latest_entries(*, viewer: ViewerStatus, surface: gate.Surface, limit: int = 50) -> list[Entry]:
    qs = candidates(viewer, surface=surface).order_by("-first_published_at", "-pk")[:limit]
    return _entries(_specific_page(qs), viewer, surface)


def search_entries(*, viewer: ViewerStatus, query: str, limit: int = 30) -> list[Entry]:
    """Search only among items the viewer may read in full: a teaser never matches on text it
    does not show."""
    query = query.strip()[:100]
    if not query:
        return []
    qs = candidates(viewer, surface=gate.Surface.SEARCH)
    for term in normalise_search_text(query).split()[:5]:
        qs = qs.filter(search_text__contains=term)
    qs = qs.order_by("-first_published_at", "-pk")[:limit]
    return _entries(_specific_page(qs), viewer, gate.Surface.SEARCH)


def sitemap_pages() -> list[GatedPage]:
    outsider = ViewerStatus("outsider")
    return [entry.page for entry in latest_entries(
        viewer=outsider, surface=gate.Surface.SITEMAP, limit=5000)]  # fmt: skip
