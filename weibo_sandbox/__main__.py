"""Command line: ``python -m weibo_sandbox --app-key KEY ...``; options fall back to the env."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from . import config as cfg
from .config import SandboxConfig
from .server import make_server


def build_parser(environ: dict[str, str]) -> argparse.ArgumentParser:
    defaults = SandboxConfig.from_env(environ)
    parser = argparse.ArgumentParser(
        prog="python -m weibo_sandbox",
        description="Offline stand-in for api.weibo.com (OAuth2, users/show, statuses/share).",
    )
    parser.add_argument("--host", default=environ.get(cfg.ENV_HOST, "127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(environ.get(cfg.ENV_PORT) or 8090),
        help="0 picks a free one",
    )
    parser.add_argument("--app-key", default=environ.get(cfg.ENV_APP_KEY), help=cfg.ENV_APP_KEY)
    parser.add_argument(
        "--app-secret", default=environ.get(cfg.ENV_APP_SECRET), help=cfg.ENV_APP_SECRET
    )
    parser.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        help=f"registered callback; repeatable ({cfg.ENV_REDIRECT_URIS}, comma separated)",
    )
    parser.add_argument(
        "--safe-domain",
        default=environ.get(cfg.ENV_SAFE_DOMAIN),
        help=f"HOST or HOST:PORT that shared texts must link to ({cfg.ENV_SAFE_DOMAIN})",
    )
    parser.add_argument("--data-dir", default=defaults.data_dir, help=cfg.ENV_DATA_DIR)
    parser.add_argument(
        "--share-hourly-limit",
        type=int,
        default=defaults.share_hourly_limit,
        help=cfg.ENV_SHARE_HOURLY_LIMIT,
    )
    parser.add_argument("--token-ttl", type=int, default=defaults.token_ttl, help=cfg.ENV_TOKEN_TTL)
    parser.add_argument("--app-name", default=defaults.app_name, help=cfg.ENV_APP_NAME)
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    parser = build_parser(env)
    args = parser.parse_args(argv)
    redirect_uris = args.redirect_uris or cfg.split_list(env.get(cfg.ENV_REDIRECT_URIS, ""))
    missing = [
        flag
        for flag, value in (
            ("--app-key", args.app_key),
            ("--app-secret", args.app_secret),
            ("--redirect-uri", redirect_uris),
            ("--safe-domain", args.safe_domain),
        )
        if not value
    ]
    if missing:
        parser.error(f"missing {', '.join(missing)} (or the matching environment variables)")
    config = SandboxConfig(
        app_key=args.app_key,
        app_secret=args.app_secret,
        redirect_uris=redirect_uris,
        safe_domain=args.safe_domain,
        data_dir=args.data_dir,
        share_hourly_limit=args.share_hourly_limit,
        token_ttl=args.token_ttl,
        app_name=args.app_name,
        log_requests=not args.quiet,
    )
    server = make_server(args.host, args.port, config)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"weibo sandbox listening on {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
