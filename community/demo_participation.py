"""Demo data for taking part: a code pool for every pool offer, stock and seat rows.

Run after ``community.demo.load()``; safe to run again (codes already in a pool are skipped).
"""

from __future__ import annotations

from community.models import ActivityPage, OfferCode, OfferPage
from community.participation import services


def demo_codes(offer: OfferPage) -> list[str]:
    count = max(offer.total_stock, 1)
    return [f"{offer.slug.upper()[:16]}-{n:04d}" for n in range(1, count + 1)]


def load_participation() -> list[str]:
    """Fill the demo offers' code pools and create stock and seat rows; returns notes."""
    notes = []
    for offer in OfferPage.objects.all():
        if offer.code_mode == OfferPage.CodeMode.POOL:
            if OfferCode.objects.filter(offer=offer).exists():
                continue  # filled on an earlier run; uploads are audited, so do not repeat
            result = services.offer_codes_add(offer=offer, codes=demo_codes(offer), actor=None)
            if result.added:
                notes.append(f"{offer.title}: {result.added} codes")
        else:
            services.offer_inventory_sync(offer=offer)
    for activity in ActivityPage.objects.all():
        services.activity_seats_sync(activity=activity)
    return notes
