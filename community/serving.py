"""Serving gated pages and staff previews through the gate."""

from __future__ import annotations

from functools import partial

from django.http import Http404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from community import gate
from core import pagecache
from members.models import Tier
from members.selectors import ViewerStatus, viewer_for_request


def _route(request, path: str):
    """Wagtail's routing result, with what the gate reads loaded, ready to be kept."""
    from wagtail.models import Page

    from community.models import GatedPage

    result = Page.route_for_request(request, path)
    if result is None:
        return None
    page, args, kwargs = result
    if isinstance(page, GatedPage):
        page = (
            type(page)
            .objects.select_related("min_tier", "early_access_tier", "cover_image")
            .prefetch_related("tiers")
            .get(pk=page.pk)
        )
    if hasattr(page, "has_view_restrictions_kept"):
        # Kept with the route: a restriction added or removed bumps the generation too.
        page._kept_view_restricted = page.has_view_restrictions_kept()
    return page, list(args), dict(kwargs)


def serve_page(request, path: str):
    """Wagtail's page serving, with the routed page kept in the page cache.

    Wagtail finds a page by walking the tree from the site's root, one query per level plus
    the site lookup, and the page of an item is a join over three tables. A page and its route
    change only when a page is saved, moved or deleted, or a site is changed, all of which
    bump the cache generation, and by the clock (go-live, expiry, early access), which bounds
    every entry's life; so the routed page itself (with its tiers) is kept, and a request
    unpickles its own copy (about 0.05 ms, against some 4 ms for the query). Everything after
    routing (hooks, view restrictions, ``serve``, the gate) is Wagtail's own view, unchanged.
    """
    from wagtail import views as wagtail_views
    from wagtail.url_routing import RouteResult

    viewer = viewer_for_request(request)
    keep = None
    place = (request.get_host().lower(), path)
    known = _kept_places.get(place)
    if viewer.kind == "member" and known is not None:
        # A member's kept copy, looked up before routing where this process has served one.
        if known is _HOME:  # a page that holds nothing personal beyond the header (the feed)
            hit, keep = pagecache.personal_copy(request, viewer.member)
        else:
            hit = _member_item_copy(known, request, viewer)[0]
        if hit is not None:
            return hit
    key = ("routed-page", request.get_host().lower(), path)
    route = pagecache.fragment(key, lambda: _route(request, path))
    if route is not None:
        # Replaces what Wagtail's routing left on the request while ``_route`` ran: the page
        # as kept, with its tiers and its view-restriction answer.
        request._wagtail_route_for_request = RouteResult(*route)
    response = wagtail_views.serve(request, path)
    kept = getattr(request, _KEPT_AS, None)
    if kept is not None and len(_kept_places) < 10_000:
        _kept_places[place] = kept
    if pagecache.personal_cacheable(request):
        if len(_kept_places) < 10_000:
            _kept_places[place] = _HOME
        if keep is not None:
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            keep(response)
    return response


# Where this process has served a member a page it keeps per member: the community home
# (``_HOME``) or an item page (the page object, as routed in the current generation). Only
# there is a member's copy looked up before routing, so other pages do not pay for a lookup
# that cannot hit, and a hit skips routing, Wagtail's hooks and the gate: the copy was kept
# under a key naming the member's tier and state, the cache generation (any change to a
# page, its tiers or its view restrictions) and the item's row versions, so it is exactly
# what the gate gave this member. A page kept here that changed since only makes the lookup
# miss (its generation is older); the request is then served in full and the entry renewed.
_HOME = object()
_KEPT_AS = "_community_kept_as"
_kept_places: dict[tuple[str, str], object] = {}


def item_context(page, request, viewer: ViewerStatus, decision: gate.Decision) -> dict:
    return {
        "page": page,
        "self": page,
        "request": request,
        "viewer": viewer,
        "decision": decision,
        "blocks": gate.visible_blocks(page, decision),
        "locked": not decision.full,
        "item_includes": [],
    }


def feed_html(request, *, home, preview: bool = False) -> str:
    """The feed's cards and pager: the same for every viewer of an access class."""
    from community.selectors import feed_page

    viewer = viewer_for_request(request)
    page_number = request.GET.get("page", "")[:12]

    def build() -> str:
        feed = feed_page(viewer=viewer, home=home, page_number=page_number)
        return render_to_string("community/_feed.html", {"feed": feed}, request=request)

    if preview:
        return build()
    key = ("feed", home.pk, pagecache.access_class(viewer), get_language(), page_number)
    return pagecache.fragment(key, build)


def article_html(page, request, viewer: ViewerStatus, decision: gate.Decision, *, cached: bool):
    """The item itself (cover, title, teaser, facts, body as far as the gate allows, paywall):
    the same for every viewer of an access class, so rendered once per class and kept."""

    def build() -> str:
        context = {
            "page": page,
            "viewer": viewer,
            "decision": decision,
            "blocks": gate.visible_blocks(page, decision),
            "locked": not decision.full,
        }
        return render_to_string("community/_item_article.html", context, request=request)

    if not cached:
        return build()
    key = ("item", page.pk, pagecache.access_class(viewer), get_language())
    return pagecache.fragment(key, build)


def render_item(
    page, request, viewer: ViewerStatus, decision: gate.Decision, status=200, *, preview=False
):
    context = item_context(page, request, viewer, decision)
    # A preview shows a draft: never from, nor into, the cache.
    context["article_html"] = article_html(page, request, viewer, decision, cached=not preview)
    from community.hooks import item_context_extensions

    for extend in item_context_extensions:
        extra = dict(extend(page, request, viewer, decision) or {})
        context["item_includes"] += extra.pop("item_includes", [])
        context.update(extra)
    response = TemplateResponse(request, page.get_template(request), context, status=status)
    if viewer.kind == "outsider" and not preview:
        # What every outsider gets here: kept once, each view still counted.
        pagecache.mark_outsider_cacheable(request, on_hit="community.item_view", page=page.pk)
    elif page.access != page.Access.PUBLIC:
        # Member content (and a member's own coupon code) must not sit in shared caches.
        response["Cache-Control"] = "private, no-store"
    return response


def item_part(request, page, template: str) -> str:
    """One part of an item page (its comments, claim or registration box) as the viewer sees
    it now, for an in-place action (``core.htmx``) to put back where it was.

    The context comes from the same extensions as the whole page's, so a part cannot show
    more than the page would: the gate decides first, and the extensions add a part only when
    the viewer may read the item in full."""
    from community.hooks import item_context_extensions

    viewer = viewer_for_request(request)
    decision = gate.decide(viewer, page, gate.Surface.PAGE)
    if not decision.visible:
        raise Http404
    context = item_context(page, request, viewer, decision)
    found = False
    for extend in item_context_extensions:
        extra = dict(extend(page, request, viewer, decision) or {})
        if template in extra.pop("item_includes", []):
            found = True
            context.update(extra)
    if not found:
        return ""  # the part is not for this viewer (any more): it disappears
    return render_to_string(template, context, request=request)


def serve_gated(page, request, *args, **kwargs):
    viewer = viewer_for_request(request)
    decision = gate.decide(viewer, page, gate.Surface.PAGE)
    if not decision.visible:
        raise Http404
    if viewer.kind != "member" or getattr(request, "is_preview", False):
        return render_item(page, request, viewer, decision)
    return _member_item(page, request, viewer, decision)


def _member_item_copy(page, request, viewer: ViewerStatus):
    """(the member's kept copy of the item page or None, a function that keeps the page once
    rendered); the view is counted when the copy is served."""
    from community.hooks import item_copy_blockers
    from community.item_copy import ITEM_COPY_TTL, item_version_sql

    if any(blocks(request, page) for blocks in item_copy_blockers):
        return None, None
    hit, keep = pagecache.personal_copy(
        request, viewer.member, version_sql=partial(item_version_sql, page), ttl=ITEM_COPY_TTL
    )
    if hit is not None:
        pagecache.run_hit_handler(request, hit, "community.member_item_view", page=page)
    return hit, keep


def _member_item(page, request, viewer: ViewerStatus, decision: gate.Decision):
    """A member's item page from their kept copy while none of the rows it reads changed
    (``community.item_copy``)."""
    hit, keep = _member_item_copy(page, request, viewer)
    if keep is not None and not getattr(page, "_kept_view_restricted", True):
        setattr(request, _KEPT_AS, page)  # later copies are looked up before routing
    if hit is not None:
        return hit
    response = render_item(page, request, viewer, decision)
    if keep is None:
        return response
    response.render()
    return keep(response)


def preview_modes() -> list[tuple[str, str]]:
    modes = [("", _("完整内容")), ("outsider", _("以访客身份预览")),
             ("applicant", _("以申请者身份预览"))]  # fmt: skip
    modes += [
        (f"tier:{tier.code}", _("以%(tier)s会员身份预览") % {"tier": tier.name})
        for tier in Tier.objects.order_by("rank")
    ]
    return modes


def viewer_for_preview(mode_name: str) -> ViewerStatus:
    if mode_name == "outsider":
        return ViewerStatus("outsider")
    if mode_name == "applicant":
        return ViewerStatus("applicant")
    if mode_name.startswith("tier:"):
        tier = Tier.objects.filter(code=mode_name.split(":", 1)[1]).first()
        return ViewerStatus("member", tier=tier) if tier else ViewerStatus("outsider")
    return ViewerStatus("staff")


def serve_preview_as(page, request, mode_name: str):
    """Staff see exactly what a given viewer would get (the publishing schedule aside)."""
    viewer = viewer_for_preview(mode_name)
    decision = gate.decide(viewer, page, gate.Surface.PAGE, preview=True)
    if not decision.visible:
        return TemplateResponse(
            request, "community/preview_hidden.html", {"page": page, "mode": mode_name}
        )
    return render_item(page, request, viewer, decision, preview=True)
