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


# Rendition widths offered in ``srcset``, per use: covers are cut to 16:9, body images keep
# their proportions. The middle one is also the fallback ``src``.
PICTURE_SPECS = {
    "cover": ((400, "fill-400x225"), (800, "fill-800x450"), (1200, "fill-1200x675")),
    "body": ((400, "width-400"), (800, "width-800"), (1200, "width-1200")),
    "reward": ((480, "fill-480x320"), (960, "fill-960x640")),
}
PICTURE_FORMATS = (("image/avif", "avif"), ("image/webp", "webp"))
DEFAULT_SIZES = "(min-width: 48rem) 46rem, calc(100vw - 2rem)"


def _srcset(image, specs, image_format: str | None = None) -> str:
    def url(spec: str) -> str:
        if image_format is None:
            return reverse("community:image", args=[image.pk, spec])
        return reverse("community:image_format", args=[image.pk, spec, image_format])

    return ", ".join(f"{url(spec)} {width}w" for width, spec in specs)


@register.inclusion_tag("community/_picture.html")
def picture(
    image,
    use: str = "cover",
    *,
    alt: str = "",
    css_class: str = "",
    lazy: bool = True,
    sizes: str = DEFAULT_SIZES,
) -> dict:
    """A ``<picture>`` of ``image``: AVIF and WebP renditions for browsers that take them, the
    original format otherwise, each in several widths (``srcset``/``sizes``), every URL through
    the access-checking image view (``community.media``). Wagtail's own ``{% picture %}`` tag
    would link the public media files instead, which would bypass the gate. ``lazy`` for
    pictures below the fold."""
    if image is None:
        return {"image": None}
    specs = PICTURE_SPECS[use]
    width, spec = specs[len(specs) // 2] if len(specs) > 2 else specs[0]
    if use == "body" and image.width:
        height = round(image.height * min(width, image.width) / image.width)
        width = min(width, image.width)
    else:
        height = int(spec.split("x")[-1]) if "x" in spec else None
    return {
        "image": image,
        "sources": [(mime, _srcset(image, specs, fmt)) for mime, fmt in PICTURE_FORMATS],
        "srcset": _srcset(image, specs),
        "src": reverse("community:image", args=[image.pk, spec]),
        "width": width,
        "height": height,
        "sizes": sizes,
        "alt": alt,
        "css_class": css_class,
        "lazy": lazy,
    }


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
