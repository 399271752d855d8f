"""Member-facing endpoints of interaction: comment, reply, edit, take down, like, report.

Thin by design: each view asks the gate (404 when the item is hidden from the viewer, 403 when
the viewer may not read it in full or is not a member), rate-limits writing, calls one service
and turns its domain errors into messages. The services check the gate again.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from community import gate
from community.interaction import selectors, services
from community.models import GatedPage
from community.models_interaction import Comment, CommentRevision
from community.serving import item_part
from core import htmx
from core.errors import DomainError, NotFound
from core.errors import PermissionDenied as DomainPermissionDenied
from core.ratelimit import client_ip, rate_limited
from members.models import Member
from members.selectors import ViewerStatus, viewer_for_request

COMMENT_RATE_LIMIT = 10  # comments and edits per member
COMMENT_RATE_WINDOW = 60  # seconds
MENTION_RATE_LIMIT = 60  # suggestion look-ups per member and minute (one per typed character)
DRAFT_SESSION_KEY = "community.comment_draft.%s"


class Refused(Exception):
    """Stops a view with a response (403 page) before any service runs."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def forbidden(request: HttpRequest, message: str | None = None) -> HttpResponse:
    if htmx.is_htmx(request):
        return htmx.refusal(request, message or services.CommentsNotAllowed.default_message)
    return render(
        request,
        "community/interaction/forbidden.html",
        {"message": message or services.CommentsNotAllowed.default_message},
        status=403,
    )


def _writer(request: HttpRequest, page) -> Member:
    """The member writing on ``page``; 404 if the item is hidden, 403 if not for them."""
    viewer: ViewerStatus = viewer_for_request(request)
    decision = gate.decide(viewer, page, gate.Surface.PAGE)
    if not decision.visible:
        raise Http404
    if not (decision.full and viewer.is_member and services.is_commentable(page)):
        raise Refused(forbidden(request))
    return viewer.member


def _item(page_id: int):
    return get_object_or_404(GatedPage, pk=page_id).specific


def _comment_and_writer(request: HttpRequest, pk: int) -> tuple[Comment, Member]:
    """A comment the requester may address: its item must be readable in full by them."""
    comment = get_object_or_404(Comment.objects.select_related("page"), pk=pk)
    member = _writer(request, comment.page.specific)
    comment = selectors.visible_comment(pk=pk, member=member)
    if comment is None:
        raise Http404
    return comment, member


def _back(request: HttpRequest, page, anchor: str = "comments") -> HttpResponse:
    """Back to the item's comments: the page (a plain POST) or the section itself (htmx)."""
    if htmx.is_htmx(request):
        return htmx.fragment(request, item_part(request, page, "community/_comments.html"))
    return redirect(f"{page.get_url(request) or '/'}#{anchor}")


def _run(request: HttpRequest, page, action, *, on_error=None) -> HttpResponse | None:
    """Call ``action``; a domain error becomes a message (or 403/404), None means success."""
    try:
        action()
    except DomainPermissionDenied as error:
        return forbidden(request, error.message)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, error.message)
        if on_error:
            on_error()
        return _back(request, page)
    return None


def _too_fast(request: HttpRequest, member: Member) -> bool:
    return rate_limited(request, "comment", limit=COMMENT_RATE_LIMIT, window=COMMENT_RATE_WINDOW,
                        key=str(member.pk))  # fmt: skip


def _outcome_message(comment: Comment) -> str:
    if comment.state == Comment.State.HELD:
        return _("您的评论已提交，正在等待审核，通过后其他会员才能看到。")
    if comment.moderation_action == "censor":
        return _("评论已发布，其中部分词语已被替换为＊。")
    return _("评论已发布。")


def refusal_safe(view):
    """Turn ``Refused`` into its response."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as refused:
            return refused.response

    return wrapped


@require_POST
@refusal_safe
def comment_create(request: HttpRequest, page_id: int) -> HttpResponse:
    page = _item(page_id)
    member = _writer(request, page)
    body = request.POST.get("body", "")
    parent = None
    if request.POST.get("parent"):
        parent = selectors.visible_comment(pk=_int(request.POST["parent"]), member=member)
        if parent is None:
            raise Http404

    def keep_draft():
        if parent is None:
            request.session[DRAFT_SESSION_KEY % page.pk] = body[: services.MAX_COMMENT_LENGTH]

    if _too_fast(request, member):
        messages.error(request, _("评论太频繁了，请一分钟后再试。"))
        keep_draft()
        return _back(request, page)
    created: list[Comment] = []
    failed = _run(
        request, page,
        lambda: created.append(services.comment_create(
            member=member, page=page, body=body, parent=parent, ip=client_ip(request))),
        on_error=keep_draft,
    )  # fmt: skip
    if failed:
        return failed
    messages.success(request, _outcome_message(created[0]))
    return _back(request, page, f"comment-{created[0].pk}")


@refusal_safe
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    comment, member = _comment_and_writer(request, pk)
    page = comment.page.specific
    if comment.member_id != member.pk:
        return forbidden(request, services.NotYourComment.default_message)
    if comment.state not in (Comment.State.PUBLISHED, Comment.State.HELD):
        messages.error(request, services.CommentNotEditable.default_message)
        return _back(request, page)
    if request.method == "POST":
        body = request.POST.get("body", "")
        if _too_fast(request, member):
            messages.error(request, _("评论太频繁了，请一分钟后再试。"))
        else:
            try:
                comment = services.comment_edit(
                    member=member, comment=comment, body=body, ip=client_ip(request)
                )
            except DomainPermissionDenied as error:
                return forbidden(request, error.message)
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _outcome_message(comment))
                return _back(request, page, f"comment-{comment.pk}")
    else:
        body = (
            CommentRevision.objects.filter(comment=comment)
            .order_by("-created_at", "-pk")
            .values_list("written", flat=True)
            .first()
            or comment.body
        )
    context = {"comment": comment, "page": page, "body": body,
               "max_length": services.MAX_COMMENT_LENGTH}  # fmt: skip
    return render(request, "community/interaction/comment_edit.html", context)


@require_POST
@refusal_safe
def comment_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    comment, member = _comment_and_writer(request, pk)
    page = comment.page.specific
    failed = _run(request, page, lambda: services.comment_withdraw(
        member=member, comment=comment, ip=client_ip(request)))  # fmt: skip
    if failed:
        return failed
    messages.success(request, _("评论已删除。"))
    return _back(request, page)


@require_POST
@refusal_safe
def comment_report(request: HttpRequest, pk: int) -> HttpResponse:
    comment, member = _comment_and_writer(request, pk)
    page = comment.page.specific
    failed = _run(request, page, lambda: services.comment_report(
        member=member, comment=comment, reason=request.POST.get("reason", ""),
        detail=request.POST.get("detail", ""), ip=client_ip(request)))  # fmt: skip
    if failed:
        return failed
    messages.success(request, _("已收到您的举报，审核员会尽快处理。"))
    return _back(request, page, f"comment-{comment.pk}")


@require_POST
@refusal_safe
def comment_like(request: HttpRequest, pk: int) -> HttpResponse:
    comment, member = _comment_and_writer(request, pk)
    page = comment.page.specific
    failed = _run(request, page,
                  lambda: services.comment_like_toggle(member=member, comment=comment))  # fmt: skip
    return failed or _back(request, page, f"comment-{comment.pk}")


@require_POST
@refusal_safe
def item_like(request: HttpRequest, page_id: int) -> HttpResponse:
    page = _item(page_id)
    member = _writer(request, page)
    failed = _run(request, page, lambda: services.item_like_toggle(member=member, page=page))
    return failed or _back(request, page, "likes")


@require_GET
@refusal_safe
def mention_suggestions(request: HttpRequest, page_id: int) -> HttpResponse:
    """Members to @mention on an item, for the comment form's suggestions (JSON).

    For admitted members who may comment on the item (404/403 otherwise, like writing), rate
    limited per member; lists only members who may read the item, never anyone's private data.
    """
    page = _item(page_id)
    member = _writer(request, page)
    if rate_limited(request, "mention_suggest", limit=MENTION_RATE_LIMIT, window=60,
                    key=str(member.pk)):  # fmt: skip
        return JsonResponse(
            {"error": "rate_limited", "message": _("操作太频繁，请稍后再试。")}, status=429
        )
    found = selectors.mention_suggestions(page=page, member=member, prefix=request.GET.get("q", ""))
    response = JsonResponse(
        {"results": [{"handle": s.handle, "name": s.name, "avatar": s.avatar} for s in found]},
        json_dumps_params={"ensure_ascii": False},
    )
    patch_cache_control(response, private=True, no_store=True)
    return response


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def has_comment_draft(request, page) -> bool:
    """A refused comment's text waits to be put back in the form: render the page afresh."""
    session = getattr(request, "session", None)
    return session is not None and (DRAFT_SESSION_KEY % page.pk) in session


def item_comments(page, request, viewer: ViewerStatus, decision: gate.Decision) -> dict:
    """``community.hooks.item_context_extensions`` entry: the item page's comments section.

    Returns nothing at all unless ``decision`` is FULL: comments are gated content.
    """
    if not decision.full:
        return {}
    data = selectors.item_interaction(
        page=page, viewer=viewer, decision=decision, page_number=request.GET.get("comments")
    )
    if data is None:
        return {}
    session = getattr(request, "session", None)
    draft = session.pop(DRAFT_SESSION_KEY % page.pk, "") if session is not None else ""
    return {
        "item_includes": ["community/_comments.html"],
        "interaction": data,
        "comment_draft": draft,
        "comment_max_length": services.MAX_COMMENT_LENGTH,
    }
