"""Who is signed in, staff must have TOTP before the admin, members must hold a current consent."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from members import selectors
from members.adapters import SESSION_AFTER_LOGIN
from members.sessions import plan_read_along, signed_in_user


class SignedInUserMiddleware(AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware``, with the user read in the session's own statement
    (``members.sessions``)."""

    def process_request(self, request):
        super().process_request(request)
        if request.session.session_key is None:
            # No session cookie: no one is signed in, and Django's ``get_user`` would answer
            # the same after building a lazy object, reading an empty session and looking up
            # the backend. Signing in during this request replaces ``request.user`` anyway.
            request.user = AnonymousUser()
            return
        plan_read_along(request)
        request.user = SimpleLazyObject(lambda: signed_in_user(request))


class StaffMfaRequiredMiddleware:
    """Send staff without an enrolled authenticator to TOTP activation before the admin.

    The admin holds member data and points; a password alone is not enough for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            settings.STAFF_REQUIRE_MFA
            and request.path.startswith("/admin/")
            and request.user.is_authenticated
            and request.user.is_staff
            and not is_mfa_enabled(request.user)
        ):
            return redirect(f"{reverse('mfa_activate_totp')}?next={request.path}")
        return self.get_response(request)


SESSION_CONSENT_OK = "consent_ok_baseline"
# Where a member without a current consent may still go: the consent page itself, signing in
# and out, their data download and leaving (rights that never wait for a new consent), language
# switching, and what is not a page.
CONSENT_EXEMPT_PREFIXES = (
    "/members/consent/", "/members/login/", "/members/welcome/", "/members/me/export",
    "/members/me/leave/", "/accounts/", "/admin/", "/i18n/", "/static/", "/media/",
    "/documents/", "/healthz", "/robots.txt",
)  # fmt: skip


class ConsentRequiredMiddleware:
    """Send a signed-in member who has not accepted the latest material consent version to the
    consent page, on their next visit rather than their next login.

    Cheap on purpose: the session remembers which baseline the member's consent was checked
    against, and the baseline itself is remembered by the process for a few seconds
    (``selectors.consent_baseline_cached``), so a member's request costs no query until a new
    material version is published; then one query decides.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The path first: an exempt request (robots.txt, static files) never loads the user.
        user = getattr(request, "user", None)
        if (
            user is not None
            and not request.path.startswith(CONSENT_EXEMPT_PREFIXES)
            and user.is_authenticated
            and not user.is_staff
        ):
            baseline = selectors.consent_baseline_cached()
            if request.session.get(SESSION_CONSENT_OK) != baseline:
                member_id, consented = selectors.member_consent_state(user, baseline)
                if consented:
                    request.session[SESSION_CONSENT_OK] = baseline
                elif member_id is not None:
                    if not request.accepts("text/html"):
                        return JsonResponse(
                            {
                                "error": "consent_required",
                                "message": _("请先阅读并同意新的授权说明。"),
                            },
                            status=403,
                        )
                    if request.method == "GET":
                        request.session[SESSION_AFTER_LOGIN] = request.get_full_path()
                    return redirect("members:consent")
        return self.get_response(request)
