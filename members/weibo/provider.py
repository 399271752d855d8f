"""The Weibo provider, under allauth's id ``weibo``."""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from members.weibo.views import WeiboOAuth2Adapter


class WeiboAccount(ProviderAccount):
    def get_profile_url(self):
        return f"https://weibo.com/u/{self.account.uid}"

    def get_avatar_url(self):
        return self.account.extra_data.get("avatar_large")

    def to_str(self):
        return self.account.extra_data.get("screen_name") or self.account.uid


class WeiboProvider(OAuth2Provider):
    id = "weibo"
    name = "微博"
    account_class = WeiboAccount
    oauth2_adapter_class = WeiboOAuth2Adapter

    def extract_uid(self, data):
        return str(data["idstr"])

    def extract_common_fields(self, data):
        # Weibo never gives an e-mail address; the username is made unique by our adapter.
        return {"first_name": _screen_name(data)[:150]}

    def extract_extra_data(self, data):
        # The full profile is kept on the member record only after consent; the social account
        # holds just what identifies the account.
        return {"idstr": str(data.get("idstr")), "screen_name": _screen_name(data)}


def _screen_name(data) -> str:
    """users/show's screen_name when it is text (Weibo's answer is not trusted to be)."""
    value = data.get("screen_name")
    return value.replace("\x00", "") if isinstance(value, str) else ""


provider_classes = [WeiboProvider]
