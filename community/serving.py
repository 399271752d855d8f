"""Serving gated pages and staff previews through the gate."""

from __future__ import annotations

from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from community import gate
from members.models import Tier
from members.selectors import ViewerStatus, viewer_for_request


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


def render_item(page, request, viewer: ViewerStatus, decision: gate.Decision, status=200):
    context = item_context(page, request, viewer, decision)
    from community.hooks import item_context_extensions

    for extend in item_context_extensions:
        extra = dict(extend(page, request, viewer, decision) or {})
        context["item_includes"] += extra.pop("item_includes", [])
        context.update(extra)
    response = TemplateResponse(request, page.get_template(request), context, status=status)
    if page.access != page.Access.PUBLIC:
        # Member content (and a member's own coupon code) must not sit in shared caches.
        response["Cache-Control"] = "private, no-store"
    return response


def serve_gated(page, request, *args, **kwargs):
    viewer = viewer_for_request(request)
    decision = gate.decide(viewer, page, gate.Surface.PAGE)
    if not decision.visible:
        raise Http404
    return render_item(page, request, viewer, decision)


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
    return render_item(page, request, viewer, decision)
