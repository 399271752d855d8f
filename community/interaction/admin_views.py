"""The moderation queue in the Wagtail admin: held, reported and flagged comments, decisions,
bulk decisions, and the keyword "test this text" box.

Every view checks its permission (GET and POST alike) and answers 403 without it; decisions go
through ``community.interaction.services`` and a ``DomainError`` becomes an error message.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from community.interaction import selectors, services
from community.models_interaction import Comment, ModerationKeyword
from community.photos import selectors as photo_selectors
from core.adminkit import has_any_perm, permission_required
from core.errors import DomainError
from core.ratelimit import client_ip

PERM_MODERATE = "community.change_comment"
PERM_KEYWORDS = (
    "community.view_moderationkeyword",
    "community.add_moderationkeyword",
    "community.change_moderationkeyword",
)
MAX_TEST_TEXT = 2000


def _back_to_queue(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("interaction_admin:queue")


@permission_required(PERM_MODERATE)
def queue(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", selectors.QueueFilter.ALL)
    if show not in selectors.QueueFilter.CHOICES:
        show = selectors.QueueFilter.ALL
    page = Paginator(selectors.moderation_queue(show=show), selectors.QUEUE_PER_PAGE).get_page(
        request.GET.get("p")
    )
    counts = selectors.queue_counts()
    labels = {
        selectors.QueueFilter.ALL: _("全部待处理"),
        selectors.QueueFilter.HELD: _("待审核"),
        selectors.QueueFilter.REPORTED: _("被举报"),
        selectors.QueueFilter.FLAGGED: _("关键词提醒"),
    }
    context = {
        "page": page,
        "show": show,
        "tabs": [(value, label, counts[value]) for value, label in labels.items()],
        "can_edit_keywords": has_any_perm(request.user, PERM_KEYWORDS),
        "photo_count": photo_selectors.queue_count(),
    }
    return render(request, "community/interaction/admin/queue.html", context)


@permission_required(PERM_MODERATE)
def comment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    comment = selectors.comment_for_staff(pk)
    if comment is None:
        raise Http404
    context = {
        "comment": comment,
        "restorable": services.restorable(comment),
        "audit_entries": selectors.comment_audit_entries(comment),
        "next": request.get_full_path(),
    }
    return render(request, "community/interaction/admin/comment_detail.html", context)


@permission_required(PERM_MODERATE)
@require_POST
def comment_decide(request: HttpRequest, pk: int) -> HttpResponse:
    comment = Comment.objects.filter(pk=pk).first()
    if comment is None:
        messages.error(request, _("评论不存在。"))
        return _back_to_queue(request)
    decision = request.POST.get("decision", "")
    try:
        services.comment_moderate(
            comment=comment,
            actor=request.user,
            decision=decision,
            reason=request.POST.get("reason", ""),
            censor_text=request.POST.get("censor_text", ""),
            ip=client_ip(request),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return _back_to_queue(request)
    done = {
        services.StaffDecision.APPROVE: _("已通过评论 #%(pk)s。"),
        services.StaffDecision.REJECT: _("已驳回评论 #%(pk)s。"),
        services.StaffDecision.CENSOR: _("已屏蔽评论 #%(pk)s 中的文字并发布。"),
        services.StaffDecision.RESTORE: _("已恢复评论 #%(pk)s。"),
    }
    messages.success(request, done[decision] % {"pk": comment.pk})
    return _back_to_queue(request)


@permission_required(PERM_MODERATE)
@require_POST
def comments_bulk(request: HttpRequest) -> HttpResponse:
    ids = [v for v in request.POST.getlist("comment") if v.isascii() and v.isdigit()]
    if not ids:
        messages.error(request, _("请先勾选要处理的评论。"))
        return _back_to_queue(request)
    try:
        decided, skipped = services.comments_moderate_bulk(
            comment_ids=[int(value) for value in ids],
            actor=request.user,
            decision=request.POST.get("decision", ""),
            reason=request.POST.get("reason", ""),
            ip=client_ip(request),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return _back_to_queue(request)
    message = _("已处理 %(decided)s 条评论。") % {"decided": decided}
    if skipped:
        message += _("%(skipped)s 条已被处理过或状态已变化，已跳过。") % {"skipped": skipped}
    messages.success(request, message)
    return _back_to_queue(request)


@permission_required(PERM_MODERATE, *PERM_KEYWORDS)
def keyword_test(request: HttpRequest) -> HttpResponse:
    """Shows which keyword would fire on a text and what would happen; counts no hits."""
    text = (request.POST.get("text") or request.GET.get("text") or "")[:MAX_TEST_TEXT]
    outcomes = {
        "": _("没有命中任何敏感词：评论会直接发布。"),
        ModerationKeyword.Action.BLOCK: _("会被拦截：评论不会保存，作者会看到提示。"),
        ModerationKeyword.Action.HOLD: _("会进入审核队列：审核通过前只有作者自己能看到。"),
        ModerationKeyword.Action.CENSOR: _("会发布，命中的文字被替换为＊。"),
        ModerationKeyword.Action.FLAG: _("会直接发布，同时提醒审核员查看。"),
    }
    result = selectors.keyword_test(text) if text.strip() else None
    context = {
        "text": text,
        "result": result,
        "outcome": outcomes[result.verdict.action] if result else "",
        "keywords": selectors.keywords_by_hits(),
        "keyword_list_url": reverse("wagtailsnippets_community_moderationkeyword:list"),
        "can_edit_keywords": has_any_perm(request.user, PERM_KEYWORDS),
    }
    return render(request, "community/interaction/admin/keyword_test.html", context)
