"""Community surfaces besides page serving: search, sitemap, feeds, JSON API, images, media.

Each one asks the gate; none renders an item's text on its own.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from wagtail.images import get_image_model

from community import gate, media, selectors
from core import pagecache
from members.models import Member
from members.selectors import ViewerStatus, viewer_for_request, viewer_status

FEED_SALT = "community.member-feed"


@require_GET
def search(request):
    query = request.GET.get("q", "")
    viewer = viewer_for_request(request)
    entries = selectors.search_entries(viewer=viewer, query=query)
    return render(request, "community/search.html", {"query": query, "entries": entries})


@require_GET
def sitemap(request):
    pagecache.mark_outsider_cacheable(request)  # built for outsiders whoever asks
    pages = selectors.sitemap_pages()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']  # fmt: skip
    for page in pages:
        lines.append(
            f"<url><loc>{settings.SITE_URL}{page.url}</loc>"
            f"<lastmod>{page.last_published_at:%Y-%m-%d}</lastmod></url>"
        )
    lines.append("</urlset>")
    return HttpResponse("\n".join(lines), content_type="application/xml")


def member_feed_token(member: Member) -> str:
    return signing.dumps({"m": member.pk}, salt=FEED_SALT, compress=True)


class ItemsFeed(Feed):
    """RSS of the items a viewer may read in full; teasers show only the public summary."""

    feed_type = Atom1Feed
    link = "/"

    def __call__(self, request, *args, **kwargs):
        if kwargs.get("token") is None:
            pagecache.mark_outsider_cacheable(request)  # the public feed: outsiders' items
        return super().__call__(request, *args, **kwargs)

    def get_object(self, request, token: str | None = None):
        if token is None:
            return ViewerStatus("outsider")
        try:
            data = signing.loads(token, salt=FEED_SALT)
        except signing.BadSignature:
            raise Http404 from None
        member = Member.objects.select_related("user").filter(pk=data.get("m")).first()
        if member is None:
            raise Http404
        return viewer_status(member.user)

    def title(self, viewer):
        return settings.WAGTAIL_SITE_NAME

    def subtitle(self, viewer):
        return _("俱乐部最新内容")

    def items(self, viewer):
        return selectors.latest_entries(viewer=viewer, surface=gate.Surface.FEED, limit=30)

    def item_title(self, entry):
        return entry.page.title

    def item_description(self, entry):
        if entry.locked:
            return entry.page.summary
        return "".join(str(block) for block in gate.visible_blocks(entry.page, entry.decision))

    def item_link(self, entry):
        return entry.page.url

    def item_pubdate(self, entry):
        return entry.page.first_published_at


@require_GET
def items_api(request):
    viewer = viewer_for_request(request)
    page = selectors.feed_page(viewer=viewer, page_number=request.GET.get("page"))
    items = []
    for entry in page["entries"]:
        item = {
            "id": entry.page.pk,
            "type": entry.page.specific_class._meta.model_name,
            "title": entry.page.title,
            "summary": entry.page.summary,
            "url": entry.page.url,
            "locked": entry.locked,
            "required_tier": entry.decision.required_tier.name
            if entry.decision.required_tier else None,
        }  # fmt: skip
        if not entry.locked:
            item["body_text"] = strip_tags(
                " ".join(str(b) for b in gate.visible_blocks(entry.page, entry.decision))
            ).strip()
        items.append(item)
    return JsonResponse(
        {"items": items, "page": page["page"].number, "pages": page["page"].paginator.num_pages},
        json_dumps_params={"ensure_ascii": False},
    )


@never_cache
def image(request, image_id: int, filter_spec: str, image_format: str | None = None):
    if filter_spec not in media.ALLOWED_FILTER_SPECS:
        raise Http404
    if image_format is not None and image_format not in media.ALLOWED_FORMATS:
        raise Http404
    image_obj = get_object_or_404(get_image_model(), pk=image_id)
    if not media.may_see_object(viewer_for_request(request), image_obj):
        raise Http404
    spec = filter_spec if image_format is None else f"{filter_spec}|format-{image_format}"
    rendition = image_obj.get_rendition(spec)
    content_type = (
        f"image/{image_format}"
        if image_format
        else mimetypes.guess_type(rendition.file.name)[0] or "application/octet-stream"
    )
    response = FileResponse(rendition.file.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def staff_media(request, path: str):
    """Original files and renditions under MEDIA_URL, for the staff admin only."""
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404
    from django.views.static import serve

    return serve(request, path, document_root=settings.MEDIA_ROOT)
