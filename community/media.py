"""Images and documents are served only to viewers who may see where they are used.

Wagtail serves renditions as public media files with no privacy at all. Here an image is served
through a view that asks the gate about every page that uses it (Wagtail's reference index
knows which field and which block): a cover image is part of the public teaser, an image in the
body needs access to that part of the body. An image used nowhere is for staff only.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from wagtail.images.models import AbstractImage
from wagtail.models import Page, ReferenceIndex

from community import gate
from community.models import GatedPage
from members.selectors import ViewerStatus

ALLOWED_FILTER_SPECS = frozenset(
    {"fill-1200x630", "fill-1200x675", "fill-800x450", "fill-400x225", "fill-160x160",
     "max-1200x1200", "width-400", "width-800", "width-1200", "fill-480x320", "fill-960x640"}
)  # fmt: skip
# Modern formats a rendition may also be served in (``<picture>`` offers them to browsers that
# accept them; the gate decides exactly as for the original format).
ALLOWED_FORMATS = frozenset({"avif", "webp"})
TEASER_FIELDS = {"cover_image"}


def _block_before_cut(page: GatedPage, content_path: str) -> bool:
    """Whether the referenced body block sits before the paywall cut."""
    parts = content_path.split(".")
    if len(parts) < 2 or parts[0] != "body":
        return False
    block_id = parts[1]
    before, has_cut = gate.split_body(page.body)
    return has_cut and any(block.id == block_id for block in before)


def _shown_reward_picture(obj) -> bool:
    """A reward on show in the catalogue may be seen by anyone: members browse it, and a shared
    reward's public landing page shows its picture to outsiders (the reward's name and cost are
    on that page too). A reward taken off the shelf or outside its display window is staff-only.
    """
    from loyalty.selectors import rewards_on_show

    return rewards_on_show(timezone.now()).filter(image_id=obj.pk).exists()


def may_see_object(viewer: ViewerStatus, obj) -> bool:
    if viewer.kind == "staff":
        return True
    if isinstance(obj, AbstractImage) and _shown_reward_picture(obj):
        return True
    page_type = ContentType.objects.get_for_model(Page)
    references = ReferenceIndex.get_references_to(obj).filter(base_content_type=page_type)
    page_ids = {int(ref.object_id) for ref in references}
    if not page_ids:
        return False
    pages = {page.pk: page for page in Page.objects.filter(pk__in=page_ids).specific()}
    for ref in references:
        page = pages.get(int(ref.object_id))
        if page is None:
            continue
        if not isinstance(page, GatedPage):
            if page.live:
                return True  # landing and community home pages are public
            continue
        decision = gate.decide(viewer, page, gate.Surface.IMAGE)
        if decision.full:
            return True
        if decision.access == gate.Access.TEASER:
            field = ref.model_path.split(".")[0]
            if field in TEASER_FIELDS or _block_before_cut(page, ref.content_path):
                return True
    return False
