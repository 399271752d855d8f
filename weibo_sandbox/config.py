"""Settings of one sandbox instance.

The sandbox stands in for one registered Weibo application, so it knows exactly one app key and
secret, its registered callback URIs and its bound safe domain (安全域名), like the app's page on
open.weibo.com.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

#: What Weibo hands web apps today: five years minus one second.
DEFAULT_TOKEN_TTL = 157679999
#: Normal-tier limit of statuses/share per user per app per hour.
DEFAULT_SHARE_HOURLY_LIMIT = 30

ENV_APP_KEY = "WEIBO_APP_KEY"
ENV_APP_SECRET = "WEIBO_APP_SECRET"
ENV_REDIRECT_URIS = "WEIBO_SANDBOX_REDIRECT_URIS"
ENV_SAFE_DOMAIN = "WEIBO_SANDBOX_SAFE_DOMAIN"
ENV_DATA_DIR = "WEIBO_SANDBOX_DATA_DIR"
ENV_HOST = "WEIBO_SANDBOX_HOST"
ENV_PORT = "WEIBO_SANDBOX_PORT"
ENV_SHARE_HOURLY_LIMIT = "WEIBO_SANDBOX_SHARE_HOURLY_LIMIT"
ENV_TOKEN_TTL = "WEIBO_SANDBOX_TOKEN_TTL"
ENV_APP_NAME = "WEIBO_SANDBOX_APP_NAME"


@dataclass
class SandboxConfig:
    """The registered application the sandbox plays Weibo for."""

    app_key: str = "1234567890"
    app_secret: str = "sandbox-app-secret"
    redirect_uris: list[str] = field(default_factory=list)
    safe_domain: str = "localhost"
    data_dir: str | None = None
    share_hourly_limit: int = DEFAULT_SHARE_HOURLY_LIMIT
    token_ttl: int = DEFAULT_TOKEN_TTL
    app_name: str = "会员俱乐部"
    #: Link of the app in a status' ``source``; defaults to the safe domain's root.
    app_url: str | None = None
    #: Write one access-log line per request to stderr (the CLI turns it on).
    log_requests: bool = False

    @property
    def source_url(self) -> str:
        return self.app_url or f"http://{self.safe_domain}/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Build a config from the same environment variables the CLI reads.

        Lets a launcher (or the Django side) start a sandbox that agrees with the project's settings
        without repeating them.
        """
        env = os.environ if environ is None else environ
        config = cls()
        if env.get(ENV_APP_KEY):
            config.app_key = env[ENV_APP_KEY]
        if env.get(ENV_APP_SECRET):
            config.app_secret = env[ENV_APP_SECRET]
        if env.get(ENV_REDIRECT_URIS):
            config.redirect_uris = split_list(env[ENV_REDIRECT_URIS])
        if env.get(ENV_SAFE_DOMAIN):
            config.safe_domain = env[ENV_SAFE_DOMAIN]
        if env.get(ENV_DATA_DIR):
            config.data_dir = env[ENV_DATA_DIR]
        if env.get(ENV_SHARE_HOURLY_LIMIT):
            config.share_hourly_limit = int(env[ENV_SHARE_HOURLY_LIMIT])
        if env.get(ENV_TOKEN_TTL):
            config.token_ttl = int(env[ENV_TOKEN_TTL])
        if env.get(ENV_APP_NAME):
            config.app_name = env[ENV_APP_NAME]
        return config


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
