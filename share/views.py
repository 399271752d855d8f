"""Member pages for sharing (confirm, list, retry) and the public landing page of a share.

The landing page and its card are public: they are built from ``share.subjects`` teasers only
and never from an item's body; the gate's SHARE_CARD surface is the outsider's view.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from community.gate import Surface, decide
from core import pagecache
from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited
from loyalty.views import member_required
from members.models import AdmissionSettings, Member
from members.selectors import ViewerStatus, viewer_for_request
from members.services import weibo_token_check
from share import selectors, services
from share.models import Share
from share.subjects import NotShareable, subject_for
from share.text import MAX_LENGTH, weibo_length

VISITOR_COOKIE = "club_vid"
REFERRAL_COOKIE = "club_ref"
REFERRAL_SALT = "share.referral"
SHARE_RATE_LIMIT = 10  # confirmations per member per minute


def _subject_from(request: HttpRequest, member: Member):
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind", "")
    try:
        ref = int(source.get("ref") or 0) or None
    except ValueError:
        ref = None
    return kind, ref, subject_for(member, kind=kind, ref=ref)


@member_required
def share_new(request: HttpRequest) -> HttpResponse:
    """The confirmation page: exactly the text and picture that will be posted."""
    member = request.member
    try:
        kind, ref, subject = _subject_from(request, member)
    except NotShareable as error:
        messages.error(request, error.message)
        return redirect("share:mine")
    proposed, _token, link = services.draft_text(member=member, subject=subject)
    text = proposed
    with_card = True
    show_name = member.show_name_on_shares
    confirmation_key = uuid.uuid4().hex
    errors: list[str] = []
    # Weibo is asked whether the token still works (at most once a minute per member), so a
    # revoked or expired authorisation is renewed before the share, not found out after it.
    token_ok = weibo_token_check(member=member)
    failed = selectors.failed_share_of_member(member, request.GET.get("from"), subject.key)
    if failed is not None and request.method == "GET":
        text = failed.text  # editing a share Weibo refused: start from what was refused
    if request.method == "POST":
        text = request.POST.get("text", "")[:1000]
        with_card = request.POST.get("with_card") == "1"
        show_name = request.POST.get("show_name") == "1"
        confirmation_key = (request.POST.get("confirmation_key") or "")[:64]
        if not confirmation_key:
            errors.append(_("页面已过期，请重新确认。"))
        elif rate_limited(request, "share", limit=SHARE_RATE_LIMIT, window=60, key=str(member.pk)):
            errors.append(_("操作太频繁，请稍后再试。"))
        elif not token_ok:
            errors.append(_("你的微博授权已失效，请先重新授权。"))
        else:
            try:
                services.share_confirm(
                    member=member, subject=subject, text=text, with_card=with_card,
                    show_name=show_name, rip=client_ip(request) or "0.0.0.0",
                    confirmation_key=confirmation_key,
                )  # fmt: skip
            except DomainError as error:
                errors.append(error.message)
            else:
                messages.success(request, _("已确认，正在发布到你的微博。"))
                return redirect("share:mine")
    return render(
        request,
        "share/confirm.html",
        {
            "subject": subject,
            "kind": kind,
            "ref": ref or "",
            "text": text,
            "link": link,
            "length": weibo_length(text),
            "limit": MAX_LENGTH,
            "with_card": with_card,
            "show_name": show_name,
            "confirmation_key": confirmation_key,
            "errors": errors,
            "token_ok": token_ok,
            "failed": failed,
            # After authorising again the member comes back to this very confirmation.
            "reauth_next": f"{request.path}?{urlencode({'kind': kind, 'ref': ref or ''})}",
        },  # fmt: skip
        status=400 if errors else 200,
    )


@member_required
@cache_control(private=True, max_age=300)
def card_preview(request: HttpRequest) -> HttpResponse:
    """The card as it will be posted, for the confirmation page."""
    member = request.member
    try:
        _kind, _ref, subject = _subject_from(request, member)
    except NotShareable:
        raise Http404 from None
    _text, _token, link = services.draft_text(member=member, subject=subject)
    try:
        name = services.card_for(
            member=member, subject=subject, link=link, show_name=request.GET.get("show_name") == "1"
        )
    except services.CardUnavailable:
        raise Http404 from None
    return FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")


@member_required
def share_mine(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.shares_of_member(request.member), 20).get_page(request.GET.get("p"))
    return render(
        request,
        "share/mine.html",
        {
            "page": page,
            "shareable": selectors.shareable_for_member(request.member),
            "token_ok": request.member.weibo_token_state == Member.TokenState.VALID,
        },
    )


@require_POST
@member_required
def share_retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.share_retry(member=request.member, share_id=pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已重新排队发布。"))
    return redirect("share:mine")


# --- Public landing --------------------------------------------------------------------------


def _visitor_key(request: HttpRequest) -> tuple[str, str | None]:
    """A pseudonymous visitor id, and the cookie to set when the visitor has none yet.

    A first visit derives the id from address and browser and stores it in a cookie, so a visitor
    counts once whether their refreshes bring the cookie back (the same id) or not (the same
    address and browser give the same id again).
    """
    cookie = request.COOKIES.get(VISITOR_COOKIE, "")
    new_cookie = None
    if len(cookie) != 32 or not all(c in "0123456789abcdef" for c in cookie):
        basis = f"{client_ip(request)}|{request.META.get('HTTP_USER_AGENT', '')[:200]}"
        cookie = new_cookie = hashlib.sha256(f"{settings.SECRET_KEY}|{basis}".encode()).hexdigest()[
            :32
        ]
    return hashlib.sha256(
        f"{settings.SECRET_KEY}|visitor|{cookie}".encode()
    ).hexdigest(), new_cookie


def _landing_share(token: str) -> Share:
    share = selectors.share_for_landing(token)
    if share is None:
        raise Http404
    return share


def landing(request: HttpRequest, token: str) -> HttpResponse:
    share = _landing_share(token)
    # An item unpublished since (or hidden from outsiders) still leaves the club's invitation.
    teaser = selectors.landing_teaser(share) or selectors.club_teaser()
    viewer = viewer_for_request(request)
    is_sharer = viewer.member is not None and viewer.member.pk == share.member_id
    can_open = bool(share.item_id and viewer.is_member and decide(viewer, share.item).full)
    response = render(
        request,
        "share/landing.html",
        {
            "share": share,
            "teaser": teaser,
            "viewer": viewer,
            "can_open": can_open,
            "sharer_name": selectors.sharer_public_name(share),
            "admission": AdmissionSettings.load(),
            "card_url": f"/s/{token}/card.jpg",
            "absolute_card_url": f"{settings.SITE_URL}/s/{token}/card.jpg",
            "absolute_url": share.link,
        },  # fmt: skip
    )
    funnel = {"share": share.pk, "referral_days": selectors.referral_days()}
    if viewer.kind == "outsider":
        # The same page for every outsider: kept once; the visit and the cookies are per
        # visitor, done by ``landing_visitor`` for this request and every cached one.
        pagecache.mark_outsider_cacheable(request, on_hit="share.landing", **funnel)
    elif viewer.kind != "staff" and not is_sharer:
        landing_visitor(request, response, referral=viewer.kind == "applicant", **funnel)
    return response


_referral_signed: dict[int, tuple[int, str]] = {}


def _signed_referral(share: int) -> str:
    """The referral cookie's value, exactly what ``set_signed_cookie`` would write.

    Signing takes longer than the rest of a cached landing page's per-visit work, and the
    signature's timestamp has one-second steps, so within a second every visitor of a share
    gets the same value: it is signed once per share and second.
    """
    second = int(time.time())
    kept = _referral_signed.get(share)
    if kept is None or kept[0] != second:
        if len(_referral_signed) > 1000:
            _referral_signed.clear()
        signer = signing.get_cookie_signer(salt=REFERRAL_COOKIE + REFERRAL_SALT)
        kept = _referral_signed[share] = (second, signer.sign(str(share)))
    return kept[1]


def landing_visitor(
    request: HttpRequest, response: HttpResponse, *, share: int, referral_days: int,
    referral: bool = True,
) -> None:  # fmt: skip
    """Per-visitor part of a landing page: count the visit, remember the share for a referral.

    Runs for pages served from the page cache too, so it costs no SQL and no round trip: the
    visit is counted in memory and handed on in batches (``share_visit_count``). A response
    that sets cookies must not sit in a shared cache, so it leaves as ``private``.
    """
    visitor, new_cookie = _visitor_key(request)
    services.share_visit_count(share_id=share, visitor=visitor)
    if new_cookie:
        response.set_cookie(VISITOR_COOKIE, new_cookie, max_age=365 * 86400, httponly=True,
                            samesite="Lax", secure=settings.SITE_IS_HTTPS)  # fmt: skip
    if referral:
        response.set_cookie(
            REFERRAL_COOKIE, _signed_referral(share), max_age=referral_days * 86400,
            httponly=True, samesite="Lax", secure=settings.SITE_IS_HTTPS,
        )  # fmt: skip
    response["Cache-Control"] = "private, no-cache"


@cache_control(public=True, max_age=3600)
def landing_card(request: HttpRequest, token: str) -> HttpResponse:
    share = _landing_share(token)
    if not share.card_name or selectors.landing_teaser(share) is None:
        raise Http404
    if share.kind == Share.Kind.PHOTO and not selectors.shared_photo_still_shown(share):
        raise Http404  # the member took the photo down, or a moderator removed it
    if (
        share.item_id
        and not decide(ViewerStatus("outsider"), share.item, Surface.SHARE_CARD).visible
    ):
        raise Http404
    try:
        handle = default_storage.open(share.card_name, "rb")
    except OSError:
        raise Http404 from None
    return FileResponse(handle, content_type="image/jpeg")


def attach_referral_from_request(request: HttpRequest, member: Member) -> None:
    """Called when an outsider becomes an applicant: credit the share that brought them."""
    try:
        share_id = int(request.get_signed_cookie(REFERRAL_COOKIE, salt=REFERRAL_SALT))
    except (KeyError, ValueError, signing.BadSignature):
        return
    services.referral_attach(member=member, share_id=share_id)
