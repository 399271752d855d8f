"""allauth adapters: who may log in how.

Members log in only with Weibo; staff only with username, password (and TOTP when enrolled).
A Weibo login never grants staff rights, and a staff account cannot be entered through Weibo.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from core.clientip import client_ip
from members.models import Member
from members.selectors import has_current_consent
from members.services import WeiboLogin, member_refresh_from_login

SESSION_WEIBO_LOGIN = "weibo_login"
SESSION_AFTER_LOGIN = "after_login"


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request):
        # allauth's own rate limits (staff password login) key on the same address as ours.
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def is_open_for_signup(self, request):
        return False  # no password sign-ups: members come through Weibo, staff are created

    def add_message(self, request, level, message_template=None, *args, **kwargs):
        # A renewed Weibo authorisation is told in our words (SocialAccountAdapter), not as
        # allauth's "account connected/updated".
        if message_template and message_template.startswith(
            "socialaccount/messages/account_connected"
        ):
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def pre_login(self, request, user, **kwargs):
        # Password login is for staff only; Weibo logins come through the social adapter.
        via_weibo = "sociallogin" in (kwargs.get("signal_kwargs") or {})
        if not via_weibo and not user.is_staff:
            return render(
                request,
                "members/login_error.html",
                {"message": _("会员请使用微博登录。")},
                status=403,
            )
        return super().pre_login(request, user, **kwargs)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        # Anyone with Weibo may sign in; admission to the club is decided afterwards.
        return True

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.username = f"weibo_{sociallogin.account.uid}"
        user.email = ""
        user.is_staff = False
        user.is_superuser = False
        return user

    def pre_social_login(self, request, sociallogin):
        user = sociallogin.user if sociallogin.is_existing else None
        if user is not None and (user.is_staff or user.is_superuser):
            raise ImmediateHttpResponse(
                render(
                    request,
                    "members/login_error.html",
                    {"message": _("工作人员账户不能通过微博登录。")},
                    status=403,
                )
            )
        profile = getattr(request, "_weibo_profile", None) or {}
        token = sociallogin.token
        login = WeiboLogin(
            uid=str(sociallogin.account.uid),
            profile=profile,
            access_token=token.token if token else "",
            expires_in=getattr(request, "_weibo_expires_in", None),
        )
        state = sociallogin.state if sociallogin.state is not None else {}
        member = Member.objects.filter(user=user).first() if user is not None else None
        if state.get("process") == AuthProcess.CONNECT:
            # A signed-in member authorising again (the 重新授权 buttons): only their own Weibo
            # account renews their token; they go back to the page they were on (allauth
            # checked ``next`` when the authorisation began).
            if (
                not request.user.is_authenticated
                or user is None
                or user.pk != request.user.pk
                or member is None
                or not has_current_consent(member)
            ):
                raise ImmediateHttpResponse(
                    render(
                        request,
                        "members/login_error.html",
                        {"message": _("您授权的微博账户不是您在俱乐部使用的账户，授权没有更新。"
                                      "请在微博授权页选择您自己的账户。")},
                        status=403,
                    )
                )  # fmt: skip
            member_refresh_from_login(member=member, login=login)
            messages.success(request, _("微博授权已更新。"))
            return
        # Every login goes through our welcome view, which routes by consent and state; the
        # page the person wanted is kept for afterwards.
        # (allauth flushes the session when an already signed-in person logs in again, so the
        # wanted page travels in the OAuth state, as a parameter of the welcome URL.)
        next_url = state.get("next")
        welcome = reverse("members:welcome")
        state["next"] = f"{welcome}?{urlencode({'next': next_url})}" if next_url else welcome
        if member is not None and has_current_consent(member):
            member_refresh_from_login(member=member, login=login)
        else:
            # Kept (encrypted) in the session until consent; nothing else is stored before it.
            request.session[SESSION_WEIBO_LOGIN] = login.to_session()

    def get_connect_redirect_url(self, request, socialaccount):
        # Where a renewed authorisation lands when the page it started from was not safe to
        # return to (allauth drops such a ``next``): the member's account page.
        return reverse("members:me")
