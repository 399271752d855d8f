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
