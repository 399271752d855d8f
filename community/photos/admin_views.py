"""Photos in the moderation queue: held photos, reported ones and keyword flags, with the
decisions moderators take on them (approve, reject with a reason, feature, unfeature).

The same role that moderates comments moderates photos (``community.change_comment``): one
queue, one team. Every view checks it on GET and POST; decisions go through
``community.photos.services`` and a ``DomainError`` becomes an error message.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from community.interaction import selectors as comment_selectors
from community.interaction.admin_views import PERM_MODERATE
from community.models import ActivityPhoto
from community.photos import selectors, services
from core.adminkit import permission_required
from core.errors import DomainError
from core.ratelimit import client_ip

PER_PAGE = 50


@permission_required(PERM_MODERATE)
def queue(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.moderation_queue(), PER_PAGE).get_page(request.GET.get("p"))
    photos = list(page.object_list)
    reports = selectors.open_reports_of([photo.pk for photo in photos])
    for photo in photos:
        photo.open_report_list = reports.get(photo.pk, [])
    counts = comment_selectors.queue_counts()
    labels = {
        comment_selectors.QueueFilter.ALL: _("全部待处理"),
        comment_selectors.QueueFilter.HELD: _("待审核"),
        comment_selectors.QueueFilter.REPORTED: _("被举报"),
        comment_selectors.QueueFilter.FLAGGED: _("关键词提醒"),
    }
    context = {
        "page": page,
        "photos": photos,
        "tabs": [(value, label, counts[value]) for value, label in labels.items()],
        "photo_count": page.paginator.count,
    }
    return render(request, "community/photos/admin/queue.html", context)


@permission_required(PERM_MODERATE)
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    target = request.POST.get("next", "")
    back = (
        redirect(target)
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
        else redirect("photos_admin:queue")
    )
    photo = ActivityPhoto.objects.filter(pk=pk).first()
    if photo is None:
        messages.error(request, _("照片不存在。"))
        return back
    decision = request.POST.get("decision", "")
    try:
        services.photo_moderate(
            photo=photo, actor=request.user, decision=decision,
            reason=request.POST.get("reason", ""), ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
        return back
    done = {
        services.PhotoDecision.APPROVE: _("已通过照片 #%(pk)s。"),
        services.PhotoDecision.REJECT: _("已驳回照片 #%(pk)s。"),
        services.PhotoDecision.FEATURE: _("已将照片 #%(pk)s 设为精选。"),
        services.PhotoDecision.UNFEATURE: _("已取消照片 #%(pk)s 的精选。"),
    }
    messages.success(request, done[decision] % {"pk": photo.pk})
    return back
