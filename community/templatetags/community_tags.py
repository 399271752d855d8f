"""Template tags that keep images and embedded items behind the gate."""

from __future__ import annotations

from django import template
from django.urls import reverse

from community import gate
from members.selectors import viewer_for_request

register = template.Library()


@register.simple_tag
def image_url(image, filter_spec: str = "fill-800x450") -> str:
    """URL of an image rendition served through the access-checking view, never public media."""
    if image is None:
        return ""
    return reverse("community:image", args=[image.pk, filter_spec])


@register.inclusion_tag("community/blocks/embedded_item.html", takes_context=True)
def embedded_item(context, page):
    request = context.get("request")
    if page is None or request is None:
        return {"entry": None}
    page = page.specific
    decision = gate.decide(viewer_for_request(request), page, gate.Surface.LISTING)
    return {"page": page, "decision": decision, "visible": decision.visible}


@register.filter
def with_mentions(text: str, links) -> str:
    """A comment's text as HTML: escaped, line breaks kept, and @handles of the members it
    mentions (``links``: handle → screen name, prepared by the selector) shown as links."""
    from community.interaction.mentions import render

    return render(text or "", links or {})
