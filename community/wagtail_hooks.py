"""Wagtail admin wiring for the community."""

from __future__ import annotations

from django.http import Http404
from wagtail import hooks

from community.media import may_see_object
from members.selectors import viewer_for_request


@hooks.register("before_serve_document")
def documents_through_the_gate(document, request):
    """Documents are served only to viewers who may see a page that links them."""
    if not may_see_object(viewer_for_request(request), document):
        raise Http404


import community.interaction.wagtail_hooks  # noqa: E402,F401
import community.participation.wagtail_hooks  # noqa: E402,F401
import community.photos.wagtail_hooks  # noqa: E402,F401


@hooks.register("before_delete_page")
def keep_items_with_member_writing(request, page):
    """Items members wrote on are unpublished, never deleted: their comments must survive."""
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.translation import gettext as _

    from community.models_interaction import Comment

    if Comment.objects.filter(page_id=page.pk).exists():
        messages.error(request, _("这条内容下有会员的评论，不能删除；请改为取消发布。"))
        return redirect("wagtailadmin_pages:edit", page.pk)
    return None
