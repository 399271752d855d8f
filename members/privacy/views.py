"""A member's data export pages: start it, watch it being built, download it. Thin by design."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import htmx
from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited
from members.models import DataExport, Member
from members.privacy import selectors, services


def _member(request: HttpRequest) -> Member | None:
    member = Member.objects.filter(user=request.user).first()
    if member is None or member.state == Member.State.LEFT:
        return None
    return member


def _private(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_POST
def export_start(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    if member is None:
        return redirect("members:welcome")
    if rate_limited(request, "data_export", limit=5, window=3600, key=str(member.pk)):
        messages.error(request, _("导出请求过于频繁，请一小时后再试。"))
        return redirect("members:me")
    try:
        export = services.data_export_request(
            member=member, language=get_language() or "", ip=client_ip(request)
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("members:me")
    return redirect("members:export_status", token=export.token)


@login_required
def export_status(request: HttpRequest, token: str) -> HttpResponse:
    """The export's progress; the page reloads itself until the file is ready."""
    export = selectors.data_export_of(_member(request), token)
    if export is None:
        raise Http404
    building = export.state in (DataExport.State.QUEUED, DataExport.State.RUNNING)
    # The page polls itself (htmx, every 2 s) for the box alone; without JavaScript it reloads.
    template = (
        "members/_data_export_status.html" if htmx.is_htmx(request) else "members/data_export.html"
    )
    return _private(
        render(
            request,
            template,
            {
                "export": export,
                "building": building,
                "downloadable": selectors.is_downloadable(export),
            },
        )
    )


@login_required
def export_download(request: HttpRequest, token: str) -> HttpResponse:
    """The zip, to the member it belongs to only, until the link expires."""
    export = selectors.data_export_of(_member(request), token)
    if export is None:
        raise Http404
    if not selectors.is_downloadable(export):
        return _private(
            render(
                request, "members/data_export.html", {"export": export, "gone": True}, status=410
            )
        )
    try:
        handle = default_storage.open(export.file_name, "rb")
    except OSError:
        raise Http404 from None
    services.data_export_downloaded(export=export, ip=client_ip(request))
    day = timezone.localtime(export.finished_at).strftime("%Y%m%d")
    response = FileResponse(
        handle, as_attachment=True, filename=f"club-data-{day}.zip", content_type="application/zip"
    )
    return _private(response)
