"""OAuth2 adapter and views for Weibo."""

from __future__ import annotations

import logging

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.ratelimit import rate_limited
from members.weibo import client as weibo
from members.weibo import errors as weibo_errors

log = logging.getLogger(__name__)


class WeiboOAuth2Client(OAuth2Client):
    """Token exchange that tolerates Weibo's text/plain JSON and reports its error codes."""

    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None):
        data = {
            "client_id": self.consumer_key,
            "client_secret": self.consumer_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url,
        }
        with get_adapter().get_requests_session() as session:
            response = session.post(
                self.access_token_url, data=data, timeout=settings.WEIBO_HTTP_TIMEOUT
            )
        try:
            token = weibo.parse_weibo_body(response)
        except weibo.WeiboError as error:
            raise OAuth2Error(str(error)) from error
        if not token.get("access_token"):
            raise OAuth2Error("Weibo returned no access_token")
        return token


class WeiboOAuth2Adapter(OAuth2Adapter):
    provider_id = "weibo"
    client_class = WeiboOAuth2Client
    scope_delimiter = ","  # Weibo wants comma-separated scopes

    @property
    def access_token_url(self) -> str:  # type: ignore[override]
        return weibo.api_url("/oauth2/access_token")

    @property
    def authorize_url(self) -> str:
        return weibo.authorize_url()

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        response = kwargs.get("response") or {}
        token_uid = str(response.get("uid") or "")
        if not token_uid.isdigit():
            raise ProviderException(_("微博没有返回用户编号。"))
        try:
            profile = weibo.users_show(access_token=token.token, uid=token_uid)
        except weibo.WeiboError as error:
            raise ProviderException(
                _("读取微博资料失败（错误码 %(code)s）：%(reason)s")
                % {"code": error.code, "reason": weibo_errors.reason_for(error.code)}
            ) from error
        # The account is the one the token was issued for. A profile of anyone else (a proxy's
        # cache, a bug at Weibo, a tampered answer) would sign the person in as someone else:
        # refused, and nothing of it is kept. Weibo has been seen to omit idstr; its id (or
        # else the token's uid) stands in.
        claimed = profile.get("idstr")
        if claimed is None or claimed == "":
            claimed = profile.get("id", token_uid)
        if str(claimed) != token_uid:
            log.warning("users/show answered for %r, the token is for %s", claimed, token_uid)
            raise ProviderException(
                _("微博返回的账户与您授权的账户不一致，为安全起见本次登录已取消。")
            )
        profile["idstr"] = token_uid
        # Handed to our social account adapter, which keeps it until the member consents.
        request._weibo_profile = profile
        expires_in = response.get("expires_in")
        request._weibo_expires_in = int(str(expires_in)) if str(expires_in).isdigit() else None
        return self.get_provider().sociallogin_from_response(request, profile)


_login_view = OAuth2LoginView.adapter_view(WeiboOAuth2Adapter)
_callback_view = OAuth2CallbackView.adapter_view(WeiboOAuth2Adapter)

LOGIN_LIMIT_PER_MINUTE = 30


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "members/login_error.html",
                  {"message": _("登录尝试过于频繁，请稍后再试。")}, status=429)  # fmt: skip


def oauth2_login(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    if rate_limited(request, "weibo_login", limit=LOGIN_LIMIT_PER_MINUTE, window=60):
        return _too_many(request)
    return _login_view(request, *args, **kwargs)


def oauth2_callback(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    if rate_limited(request, "weibo_callback", limit=LOGIN_LIMIT_PER_MINUTE, window=60):
        return _too_many(request)
    return _callback_view(request, *args, **kwargs)
