"""Member-facing photo wall routes. Thin: find the activity among live pages, ask the gate
(through ``community.photos.selectors``), call one service, render.

Picture files are served here and only here, to viewers the gate lets see them; the media
storage itself is private (never a public media URL).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from community import gate
from community.models import ActivityPage, ActivityPhoto
from community.photos import selectors, services
from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited
from members.selectors import viewer_for_request

UPLOADS_PER_10_MINUTES = 20
VARIANTS = {"image": "image_name", "thumb": "thumb_name"}


def _activity(pk: int) -> ActivityPage:
    return get_object_or_404(
        ActivityPage.objects.live().select_related("min_tier", "early_access_tier")
        .prefetch_related("tiers"), pk=pk,
    )  # fmt: skip


def _wall_url(activity_id: int, anchor: str = "") -> str:
    return f"/community/activities/{activity_id}/photos/" + (f"#{anchor}" if anchor else "")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
def wall(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _activity(pk)
    viewer = viewer_for_request(request)
    wall = selectors.wall(activity=activity, viewer=viewer, page_number=request.GET.get("p"))
    if wall is None:
        raise Http404
    # One report form, for the photo the member chose (a link per photo, not a form per photo).
    wanted = request.GET.get("report", "")
    report_photo = None
    if viewer.kind == "member" and wall.decision.full and wanted.isascii() and wanted.isdigit():
        report_photo = next((p for p in wall.photos if p.pk == int(wanted)), None)
    response = render(
        request, "community/photos/wall.html",
        {"wall": wall, "activity": activity, "viewer": viewer, "report_photo": report_photo,
         "upload_key": uuid.uuid4().hex, "report_reasons": services.REPORT_REASONS.choices},
    )  # fmt: skip
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def wall_api(request: HttpRequest, pk: int) -> JsonResponse:
    """The wall as JSON, gated exactly like the page (teaser photos only without full access)."""
    activity = _activity(pk)
    wall = selectors.wall(activity=activity, viewer=viewer_for_request(request),
                          page_number=request.GET.get("p"), surface=gate.Surface.API)  # fmt: skip
    if wall is None:
        raise Http404
    photos = [
        {"id": photo.pk, "caption": photo.caption, "width": photo.width, "height": photo.height,
         "image": f"/community/photos/{photo.pk}/image.jpg",
         "thumb": f"/community/photos/{photo.pk}/thumb.jpg"}
        for photo in wall.photos
    ]  # fmt: skip
    response = JsonResponse(
        {"activity": activity.pk, "locked": not wall.decision.full, "total": wall.total,
         "photos": photos}, json_dumps_params={"ensure_ascii": False},
    )  # fmt: skip
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _activity(pk)
    viewer = viewer_for_request(request)
    member = viewer.member
    if member is None or not request.user.is_authenticated:
        raise Http404
    error = ""
    photo = None
    if rate_limited(request, "photo_upload", limit=UPLOADS_PER_10_MINUTES, window=600,
                    key=str(member.pk)):  # fmt: skip
        error = _("操作太频繁，请稍后再试。")
    elif "photo" not in request.FILES:
        error = _("请选择一张照片。")
    else:
        try:
            photo = services.photo_upload(
                member=member, activity=activity, upload=request.FILES["photo"],
                caption=request.POST.get("caption", "")[:1000],
                public_consent=request.POST.get("public_consent") == "1",
                upload_key=(request.POST.get("upload_key") or uuid.uuid4().hex)[:64],
                ip=client_ip(request),
            )  # fmt: skip
        except DomainError as refused:
            error = refused.message
    if _wants_json(request):
        if error:
            return JsonResponse({"error": error}, status=400)
        return JsonResponse(selectors.photo_status(photo), status=202)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("照片已上传，正在处理。"))
    return redirect(_wall_url(activity.pk, f"photo-{photo.pk}" if photo else "upload"))


@never_cache
@require_GET
def status(request: HttpRequest, photo_id: int) -> JsonResponse:
    """Progress of the member's own upload (polled by the upload page)."""
    viewer = viewer_for_request(request)
    photo = ActivityPhoto.objects.filter(pk=photo_id).first()
    own = photo is not None and viewer.member is not None and photo.member_id == viewer.member.pk
    if not own and not (photo is not None and viewer.kind == "staff"):
        raise Http404
    return JsonResponse(selectors.photo_status(photo), json_dumps_params={"ensure_ascii": False})


@require_GET
def picture(request: HttpRequest, photo_id: int, variant: str) -> HttpResponse:
    """A photo or its thumbnail, to viewers the gate lets see it; 404 to everyone else."""
    field = VARIANTS.get(variant)
    if field is None:
        raise Http404
    photo = ActivityPhoto.objects.filter(pk=photo_id).first()
    if photo is None:
        raise Http404
    activity = ActivityPage.objects.filter(pk=photo.activity_id).select_related(
        "min_tier", "early_access_tier"
    ).prefetch_related("tiers").first()  # fmt: skip
    if activity is None or not selectors.photo_access(viewer_for_request(request), photo, activity):
        raise Http404
    try:
        handle = default_storage.open(getattr(photo, field), "rb")
    except (OSError, ValueError):
        raise Http404 from None
    response = FileResponse(handle, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
def withdraw(request: HttpRequest, photo_id: int) -> HttpResponse:
    viewer = viewer_for_request(request)
    photo = ActivityPhoto.objects.filter(pk=photo_id).first()
    if photo is None or viewer.member is None or photo.member_id != viewer.member.pk:
        raise Http404
    services.photo_withdraw(member=viewer.member, photo=photo, ip=client_ip(request))
    messages.success(request, _("照片已删除。"))
    return redirect(_wall_url(photo.activity_id))


@require_POST
def report(request: HttpRequest, photo_id: int) -> HttpResponse:
    viewer = viewer_for_request(request)
    photo = ActivityPhoto.objects.filter(pk=photo_id).first()
    if photo is None or viewer.member is None:
        raise Http404
    try:
        services.photo_report(
            member=viewer.member, photo=photo, reason=request.POST.get("reason", ""),
            detail=request.POST.get("detail", ""), ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已收到您的举报，审核员会尽快处理。"))
    return redirect(_wall_url(photo.activity_id, f"photo-{photo.pk}"))
