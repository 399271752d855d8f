"""In-place actions (htmx): the same views answer a plain form POST and an htmx request.

Without JavaScript a member's action is a form POST answered with a redirect back to the page,
where the outcome waits as a message. With JavaScript htmx sends the same POST with
``HX-Request: true``; the view then answers with the part of the page that changed, and the
messages travel with it as an out-of-band swap into the page's message region
(``core/_messages.html``). A refusal changes nothing on the page: it answers with the message
alone and ``HX-Reswap: none``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request for part of a page (not a history restore, which wants the page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def messages_oob(request: HttpRequest) -> str:
    """The pending messages, rendered to replace the page's message region (and consumed)."""
    return render_to_string("core/_messages.html", {"oob": True}, request=request)


def fragment(request: HttpRequest, html: str, *, status: int = 200) -> HttpResponse:
    """``html`` (the changed part) followed by the pending messages."""
    response = HttpResponse(html.strip() + messages_oob(request), status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def refusal(request: HttpRequest, message: str | None = None) -> HttpResponse:
    """Nothing on the page changes; the message says why."""
    if message:
        messages.error(request, message)
    response = HttpResponse(messages_oob(request))
    response["HX-Reswap"] = "none"
    response["Cache-Control"] = "private, no-store"
    return response
