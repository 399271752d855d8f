"""Member-facing pages: login, consent, admission status, own data, leaving. Thin by design."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.ratelimit import client_ip, rate_limited
from members import card as membership_card
from members import selectors, services
from members.adapters import SESSION_AFTER_LOGIN, SESSION_WEIBO_LOGIN
from members.forms import ProfileForm
from members.models import Member
from members.privacy import selectors as privacy_selectors


def _member(request: HttpRequest) -> Member | None:
    return Member.objects.select_related("tier").filter(user=request.user).first()


def login_page(request: HttpRequest) -> HttpResponse:
    """Members log in with Weibo only (staff use the password form)."""
    if request.user.is_authenticated:
        return redirect("members:welcome")
    return render(request, "members/login.html", {"next": request.GET.get("next", "")})


@login_required
def welcome(request: HttpRequest) -> HttpResponse:
    """Where every login lands: route the person by consent and membership state."""
    if request.user.is_staff:
        return redirect("/admin/")
    if request.GET.get("next"):
        request.session[SESSION_AFTER_LOGIN] = request.GET["next"]
    # A consented member's profile and token were refreshed during the login itself
    # (SocialAccountAdapter.pre_social_login); everyone else still has to consent.
    member = _member(request)
    if member is None or not selectors.has_current_consent(member):
        return redirect("members:consent")
    return _route_by_state(request, member)


def _route_by_state(request: HttpRequest, member: Member) -> HttpResponse:
    if member.state in (Member.State.SUSPENDED, Member.State.LEFT):
        state = member.state
        logout(request)
        return render(request, "members/blocked.html", {"state": state}, status=403)
    if member.state == Member.State.APPLICANT:
        return redirect("members:join")
    next_url = request.session.pop(SESSION_AFTER_LOGIN, "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    return redirect(next_url or "/")


@login_required
def consent(request: HttpRequest) -> HttpResponse:
    text = selectors.current_consent_text()
    member = _member(request)
    login = services.WeiboLogin.from_session(request.session.get(SESSION_WEIBO_LOGIN))
    if request.user.is_staff:
        return redirect("/admin/")
    if member is None and login is None:
        # A login whose Weibo data expired from the session: start again.
        logout(request)
        messages.error(request, _("登录已过期，请重新用微博登录。"))
        return redirect("members:login")
    if request.method == "POST":
        if request.POST.get("decision") != "accept":
            logout(request)
            return render(request, "members/consent_declined.html")
        shown = request.POST.get("version")
        if shown and shown != str(text.version):
            # Staff published a new version while the member was reading: accept only what
            # they saw, so show the new one first.
            messages.info(request, _("授权说明刚刚更新，请阅读新版本后再确认。"))
            return redirect("members:consent")
        newcomer = member is None  # this acceptance creates the member record
        try:
            member = services.consent_accept(
                user=request.user, text=text, login=login, ip=client_ip(request)
            )
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("members:login")
        request.session.pop(SESSION_WEIBO_LOGIN, None)
        if newcomer:  # only someone new to the club is a referral; a renewal never is
            from share.views import attach_referral_from_request

            attach_referral_from_request(request, member)
        return _route_by_state(request, member)
    profile = (login.profile if login else {}) or {}
    title, body = text.in_language(request.LANGUAGE_CODE)
    return render(
        request,
        "members/consent.html",
        {
            "text": text,
            "title": title,
            "body": body,
            "screen_name": services.weibo_profile_fields(profile)["weibo_screen_name"]
            or (member and member.weibo_screen_name),
            "renewal": member is not None,
        },
    )


@login_required
def join(request: HttpRequest) -> HttpResponse:
    """The applicant's status page: what is missing, where they stand, how to get in."""
    member = _member(request)
    if member is None:
        return redirect("members:consent")
    if member.state != Member.State.APPLICANT:
        return _route_by_state(request, member)
    settings_ = selectors.admission_settings()
    application = getattr(member, "application", None) if hasattr(member, "application") else None
    return render(
        request,
        "members/join.html",
        {
            "member": member,
            "settings": settings_,
            "shortfall": services.criteria_shortfall(member, settings_)
            if settings_.criteria_enabled
            else [],
            "application": application,
            "waitlist_position": selectors.waitlist_position(member),
        },
    )


def _applicant_action(request: HttpRequest, action, scope: str) -> HttpResponse:
    member = _member(request)
    if member is None:
        return redirect("members:consent")
    if rate_limited(request, scope, limit=10, window=600, key=str(member.pk)):
        messages.error(request, _("尝试次数过多，请 10 分钟后再试。"))
        return redirect("members:join")
    try:
        member = action(member)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("members:join")
    if isinstance(member, Member) and member.state == Member.State.MEMBER:
        messages.success(request, _("欢迎加入俱乐部！"))
        return redirect("/")
    messages.success(request, _("申请已提交，我们会尽快审核。"))
    return redirect("members:join")


@login_required
@require_POST
def join_with_invitation(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("code", "")
    return _applicant_action(
        request,
        lambda m: services.invitation_redeem(member=m, code=code, ip=client_ip(request)),
        "invitation",
    )


@login_required
@require_POST
def join_with_membership_number(request: HttpRequest) -> HttpResponse:
    number = request.POST.get("membership_number", "")
    return _applicant_action(
        request,
        lambda m: services.membership_number_verify(member=m, number=number, ip=client_ip(request)),
        "membership_number",
    )


@login_required
@require_POST
def join_by_application(request: HttpRequest) -> HttpResponse:
    message = request.POST.get("message", "")
    return _applicant_action(
        request, lambda m: services.application_submit(member=m, message=message), "application"
    )


@login_required
def me(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    if member is None or member.state != Member.State.MEMBER:
        return redirect("members:welcome")
    invitations = member.invitation_codes.order_by("-created_at")[:20]
    return render(
        request,
        "members/me.html",
        {
            "member": member,
            # Asked of Weibo (at most once a minute): a token revoked or expired there shows here.
            "token_usable": services.weibo_token_check(member=member),
            "invitations": invitations,
            "settings": selectors.admission_settings(),
            "latest_export": privacy_selectors.latest_data_export(member),
        },
    )


@never_cache
@login_required
def card(request: HttpRequest) -> HttpResponse:
    """The membership card: tier colour, number, what other apps add (points, today's
    activities) and, when a section asks for it, the rotating check-in QR code. Never stored
    by any cache (``never_cache``: private, no-store): it carries a live code."""
    member = _member(request)
    if member is None or member.state != Member.State.MEMBER:
        return redirect("members:welcome")
    now = timezone.now()
    sections = membership_card.card_sections(member, now=now)
    code = None
    if any(section.needs_code for section in sections):
        code = membership_card.card_code_for(member, now=now)
    colour = membership_card.safe_colour(member.tier.badge_colour if member.tier else None)
    return render(
        request,
        "members/card.html",
        {
            "member": member,
            "card_colour": colour,
            "card_foreground": membership_card.readable_foreground(colour),
            "sections": sections,
            "code": code,
            "qr": membership_card.qr_svg(code.text) if code else "",
        },
    )


@never_cache
@login_required
def card_code(request: HttpRequest) -> HttpResponse:
    """The card's current check-in code as JSON, fetched by the open card every 30 seconds."""
    member = _member(request)
    if member is None or member.state != Member.State.MEMBER:
        return JsonResponse({"error": "not_a_member"}, status=403)
    code = membership_card.card_code_for(member, now=timezone.now())
    return JsonResponse(
        {"code": code.text, "svg": membership_card.qr_svg(code.text),
         "expires_in": code.expires_in, "step_seconds": membership_card.STEP_SECONDS}
    )  # fmt: skip


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The member's own profile settings: name and birthday (see ``ProfileForm``)."""
    member = _member(request)
    if member is None or member.state != Member.State.MEMBER:
        return redirect("members:welcome")
    form = ProfileForm(request.POST or None, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_profile_update(
                member=member,
                display_name=form.cleaned_data["display_name"],
                birthday=form.birthday(),
                ip=client_ip(request),
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("个人资料已保存。"))
            return redirect("members:profile")
    return render(
        request,
        "members/profile.html",
        {"member": member, "form": form, "missing": selectors.profile_missing(member)},
    )


@login_required
def member_settings(request: HttpRequest) -> HttpResponse:
    """我的 → 设置: the language the club speaks to the member, notifications, signing out.

    The language is chosen with the same plain links as anywhere else (``language_switch``),
    which remember the choice for the member too."""
    member = _member(request)
    if member is None or member.state != Member.State.MEMBER:
        return redirect("members:welcome")
    return render(request, "members/settings.html", {"member": member})


@login_required
def privacy(request: HttpRequest) -> HttpResponse:
    """The consent text in force, in the member's language, and what they accepted when.

    After a non-material change the member sees the current text while their acceptance of the
    earlier version still holds."""
    member = _member(request)
    if member is None:
        return redirect("members:welcome")
    text = selectors.current_consent_text()
    title, body = text.in_language(request.LANGUAGE_CODE)
    return render(
        request,
        "members/privacy.html",
        {
            "text": text,
            "title": title,
            "body": body,
            "accepted": selectors.accepted_consent(member),
            "consent_valid": selectors.has_current_consent(member),
        },
    )


@login_required
@require_POST
def create_invitation(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    try:
        code = services.member_invitation_create(member=member)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("邀请码已生成：%(code)s") % {"code": code.code})
    return redirect("members:me")


@login_required
def leave(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    if member is None:
        return redirect("members:welcome")
    if request.method == "POST":
        if request.POST.get("confirm") != "leave":
            messages.error(request, _("请勾选确认后再退出。"))
            return redirect("members:leave")
        services.member_leave(member=member, ip=client_ip(request))
        logout(request)
        return render(request, "members/left.html")
    return render(request, "members/leave.html", {"member": member})
