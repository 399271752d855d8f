"""Settings for every environment, read from environment variables.

Production defaults are the safe ones: DEBUG is off, secrets and hosts must be given, HTTPS
settings follow SITE_URL. There is deliberately no SQLite fallback: the project relies on
PostgreSQL row locks and constraints, so a missing DATABASE_URL stops start-up instead of
silently running on a database that would behave differently.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.clientip import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"

SITE_URL = (env_str("SITE_URL") or ("http://127.0.0.1:8000" if DEBUG else "")).rstrip("/")
if not SITE_URL:
    raise ImproperlyConfigured("SITE_URL must be set (e.g. https://club.example.com).")
SITE_HOST = urlsplit(SITE_URL).hostname or ""
SITE_IS_HTTPS = SITE_URL.startswith("https://")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [SITE_HOST] if SITE_HOST else [])
if DEBUG:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use ./run or ./test (they start a project-local PostgreSQL) "
        "or point DATABASE_URL at a PostgreSQL server."
    )
# Web processes serve HTTP on WEB_THREADS threads (config/asgi.py), each keeping one persistent
# connection: a web process holds at most WEB_THREADS + 1 connections (the one more is for the
# websocket consumers), a Celery worker process one. With PgBouncer in transaction mode in
# front, DATABASE_CONN_MAX_AGE=0 closes each after its request instead.
WEB_THREADS = env_int("WEB_THREADS", 4)
_database = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    conn_health_checks=True,
)
if _database.get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must point at PostgreSQL, not {_database.get('ENGINE')!r}: points, stock "
        "and coupon codes rely on PostgreSQL row locks and constraints."
    )
# Django's backend with a health check that sends nothing (core/postgresql/base.py says why).
_database["ENGINE"] = "core.postgresql"
_database.setdefault("OPTIONS", {})
if env_str("DATABASE_TEST_NAME"):
    # Each ./test run gets its own test database, so concurrent runs never drop each other's.
    _database["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
_database["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
# DATABASE_POOLER=transaction when DATABASE_URL points at PgBouncer in transaction mode: each
# transaction may run on another server connection, so a cursor WITH HOLD (Django's
# ``.iterator()`` outside a transaction, used by the CSV exports) would be gone by the next fetch.
DATABASE_POOLER = (env_str("DATABASE_POOLER", "") or "").strip().lower()
if DATABASE_POOLER not in ("", "session", "transaction"):
    raise ImproperlyConfigured("DATABASE_POOLER must be empty, 'session' or 'transaction'.")
if DATABASE_POOLER == "transaction":
    _database["DISABLE_SERVER_SIDE_CURSORS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, channel layer ------------------------------------
REDIS_URL = env_str("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Use ./run or ./test (they start a project-local Redis) or point "
        "REDIS_URL at a Redis server."
    )
# One prefix separates several deployments (or a test run) sharing one Redis server.
REDIS_PREFIX = env_str("REDIS_PREFIX", "club")

CACHES = {
    "default": {
        "BACKEND": "config.rediscache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Page caching (core/pagecache.py): outsider pages in Redis, member pages in fragments per
# access class. Entries die at once when content changes (a generation counter) and never
# outlive the next scheduled go-live, expiry or early-access end.
PAGE_CACHE_ENABLED = env_bool("PAGE_CACHE_ENABLED", True)
PAGE_CACHE_OUTSIDER_TTL = env_int("PAGE_CACHE_OUTSIDER_TTL", 60)
PAGE_CACHE_FRAGMENT_TTL = env_int("PAGE_CACHE_FRAGMENT_TTL", 600)
# How long a proxy or CDN in front may hold an outsider page (``s-maxage``): what it holds
# cannot be invalidated from here, so keep it to a micro-cache.
PAGE_CACHE_PROXY_MAX_AGE = env_int("PAGE_CACHE_PROXY_MAX_AGE", 1)

# Partner API (docs/partners.md): signed requests a minute per partner, over all its keys.
PARTNER_API_RATE_LIMIT = env_int("PARTNER_API_RATE_LIMIT", 600)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_PREFIX}:ws"},
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# Every retry delay used by tasks stays far below this, so acks_late tasks are never delivered
# twice merely because they waited in a countdown.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "global_keyprefix": f"{REDIS_PREFIX}:celery:",
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_PREFIX}:celery:"}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(BASE_DIR / "var" / "celerybeat-schedule")
)
# Beat sends jobs only while it holds a lease of this many seconds in Redis (config/beat.py): a
# second beat waits, and takes over within one lease when the active one dies.
BEAT_LEASE_SECONDS = env_int("BEAT_LEASE_SECONDS", 30)
CELERY_BEAT_SCHEDULE: dict = {
    "worker-heartbeat": {"task": "core.tasks.record_worker_heartbeat", "schedule": 60.0},
    # Chain the audit entries of ended transactions (core/audit.py); cheap when there is none.
    "core-audit-seal": {"task": "core.audit_seal", "schedule": 5.0},
    # A signed checkpoint of the chain's length and head, kept outside the database.
    "core-audit-checkpoint": {
        "task": "core.audit_checkpoint",
        "schedule": float(env_int("AUDIT_CHECKPOINT_INTERVAL", 600)),
    },
    "community-open-windows": {"task": "community.announce_opened_windows", "schedule": 60.0},
    "community-flush-item-views": {"task": "community.flush_item_views", "schedule": 10.0},
    # Waiting lists and draws: pass on holds that ran out, run draws whose window closed.
    "community-expire-holds": {"task": "community.expire_holds", "schedule": 60.0},
    "community-run-due-draws": {"task": "community.run_due_draws", "schedule": 60.0},
    # Loyalty (times in CELERY_TIMEZONE): expiry just after midnight, then tiers, then the proof.
    "loyalty-expire-points": {
        "task": "loyalty.expire_points",
        "schedule": crontab(minute=5, hour=0),
    },
    "loyalty-evaluate-tiers": {
        "task": "loyalty.evaluate_tiers",
        "schedule": crontab(minute=30, hour=0),
    },
    "loyalty-expire-redemptions": {
        "task": "loyalty.expire_redemptions",
        "schedule": crontab(minute=45, hour=0),
    },
    "loyalty-reconcile": {"task": "loyalty.reconcile", "schedule": crontab(minute=0, hour=3)},
    # Birthdays on the local day (a missed day is caught up within the month).
    "loyalty-award-birthdays": {
        "task": "loyalty.award_birthdays",
        "schedule": crontab(minute=10, hour=0),
    },
    # After the night's evaluations: members whose next one would downgrade them are told.
    "loyalty-warn-tier-at-risk": {
        "task": "loyalty.warn_tier_at_risk",
        "schedule": crontab(minute=5, hour=10),
    },
    "loyalty-remind-expiring": {
        "task": "loyalty.remind_expiring",
        "schedule": crontab(minute=0, hour=10),
    },
    "loyalty-release-pending": {"task": "loyalty.release_pending", "schedule": crontab(minute=15)},
    "loyalty-sweep-member-events": {"task": "loyalty.sweep_member_events", "schedule": 600.0},
    # Partner holds neither captured nor voided in time give their points back (docs/partners.md).
    "loyalty-expire-partner-holds": {"task": "loyalty.expire_partner_holds", "schedule": 60.0},
    # Stored answers to partners' Idempotency-Keys are kept 30 days (docs/partners.md).
    "partners-prune-requests": {
        "task": "partners.prune_requests",
        "schedule": crontab(minute=40, hour=4),
    },
    # Dashboard: store yesterday's rollups (and any day missed) once the day is over.
    "reports-fill-days": {
        "task": "core.reports.fill_report_days",
        "schedule": crontab(minute=20, hour=0),
    },
    "share-sweep": {"task": "share.sweep", "schedule": 60.0},
    "share-flush-visits": {"task": "share.flush_visits", "schedule": 10.0},
    "share-check-deleted-posts": {"task": "share.check_deleted_posts", "schedule": 3600.0},
    # Personal data exports past their link's end, and sealed copies past their legal hold.
    "members-purge-privacy-files": {
        "task": "members.purge_privacy_files",
        "schedule": crontab(minute=50, hour=3),
    },
    # Members: segments and zombie flags from the last 90 days, after the loyalty night jobs.
    "members-classify-segments": {
        "task": "members.classify_segments",
        "schedule": crontab(minute=30, hour=3),
    },
    # Members whose Weibo authorisation ends within a week are told once per expiry.
    "members-warn-expiring-tokens": {
        "task": "members.warn_expiring_tokens",
        "schedule": crontab(minute=0, hour=9),
    },
    # Sessions past their expiry date (Django's clearsessions, on the sessions table).
    "members-clear-expired-sessions": {
        "task": "members.clear_expired_sessions",
        "schedule": crontab(minute=10, hour=4),
    },
}
# Items whose early access ended that one run of community-open-windows announces.
ANNOUNCE_BATCH_SIZE = 500
# Members read and notifications written per step when a whole tier is told of an item.
TIER_NOTIFY_BATCH = 1000

# --- Applications -------------------------------------------------------------------------------
INSTALLED_APPS = [
    "core",
    "members",
    "members.weibo",
    "community",
    "loyalty",
    "partners",
    "share",
    "channels",
    "wagtail.contrib.settings",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
]

MIDDLEWARE = [
    "core.middleware.DebugPagesForLocalClientsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions and auth: an outsider's page served from Redis costs one round trip.
    "core.pagecache.OutsiderPageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.DefaultLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's AuthenticationMiddleware, the user read with the session (members/sessions.py).
    "members.middleware.SignedInUserMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "members.middleware.StaffMfaRequiredMiddleware",
    # Django's MessageMiddleware, building the message storage only when it is used.
    "core.middleware.LazyMessageMiddleware",
    # A member asked to accept a new material consent version is sent to it on any page.
    "members.middleware.ConsentRequiredMiddleware",
    "core.middleware.RejectNullCharactersMiddleware",
    "core.middleware.AdminPathGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
    "core.reports.middleware.DailyActiveMemberMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wagtail.contrib.settings.context_processors.settings",
                "core.context_processors.site_shell",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # Django's and allauth's backends, loading the member and tier with the user (members.auth).
    "members.auth.MemberModelBackend",
    "members.auth.MemberAuthenticationBackend",
]

# --- Sessions and security ----------------------------------------------------------------------
# In PostgreSQL with the user's id, read with the user in one statement (members/sessions.py).
SESSION_ENGINE = "members.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SITE_IS_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SITE_IS_HTTPS)
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SITE_IS_HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SITE_IS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SITE_IS_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", SITE_IS_HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
# Whose X-Forwarded-For entries are believed for the client's address (core/clientip.py): our
# proxies' addresses or networks, or how many proxies always stand in front. Neither (the
# default): nobody's; the address is the TCP peer's.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXIES and TRUSTED_PROXY_COUNT:
    raise ImproperlyConfigured("TRUSTED_PROXIES and TRUSTED_PROXY_COUNT: set one, not both.")
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT cannot be negative.")
try:
    parse_networks(TRUSTED_PROXIES)
except ValueError as error:
    raise ImproperlyConfigured(
        f"TRUSTED_PROXIES must list addresses or networks of our own proxies: {error}"
    ) from None
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]  # dates in templates follow the active language
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
WAGTAIL_I18N_ENABLED = False
WAGTAILADMIN_PERMITTED_LANGUAGES = LANGUAGES
WAGTAIL_CONTENT_LANGUAGES = [("zh-hans", "简体中文")]

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# Manifest storage needs collectstatic (the run and test commands do it); with DEBUG on files are
# served from the finders so a developer never has to collect by hand.
_static_backend = (
    "django.contrib.staticfiles.storage.StaticFilesStorage"
    if DEBUG
    else "whitenoise.storage.CompressedManifestStaticFilesStorage"
)
WHITENOISE_USE_FINDERS = DEBUG
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    # Media on object storage (S3-compatible, e.g. Aliyun OSS or Tencent COS) for several web
    # machines. Files stay private: gated images are served through the access-checking view.
    # Keys come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3).
    # The few signed URLs (staff admin thumbnails, reward pictures) are SigV4, valid 10 minutes.
    _media_backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL"),
            "region_name": env_str("AWS_S3_REGION_NAME"),
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE"),  # "virtual" for Aliyun OSS
            "signature_version": "s3v4",
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 600),
            "file_overwrite": False,
        },
    }
else:
    _media_backend = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {"default": _media_backend, "staticfiles": {"BACKEND": _static_backend}}

# --- Wagtail ------------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = env_str("SITE_NAME", "品牌会员俱乐部")
WAGTAILADMIN_BASE_URL = SITE_URL
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
# Shared passwords on pages and documents are stored in clear and bypass our tier gate.
WAGTAIL_PRIVATE_PAGE_OPTIONS = {"SHARED_PASSWORD": False}
WAGTAILDOCS_PRIVATE_COLLECTION_OPTIONS = {"SHARED_PASSWORD": False}
WAGTAILDOCS_SERVE_METHOD = "serve_view"
WAGTAILIMAGES_MAX_UPLOAD_SIZE = 8 * 1024 * 1024
WAGTAILIMAGES_MAX_IMAGE_PIXELS = 40_000_000
# Members' activity photos (community/photos/): the largest file and picture accepted.
PHOTO_MAX_UPLOAD_BYTES = env_int("PHOTO_MAX_UPLOAD_MB", 20) * 1024 * 1024
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", WAGTAILIMAGES_MAX_IMAGE_PIXELS)
# Uploads are re-encoded without EXIF/GPS/ICC metadata and checked for pixel bombs.
WAGTAILIMAGES_IMAGE_FORM_BASE = "community.media_upload.ReencodingImageForm"
WAGTAILADMIN_LOGIN_URL = "account_login"  # staff: password (+ TOTP) through allauth
WAGTAIL_ENABLE_UPDATE_CHECK = False
WAGTAIL_ENABLE_WHATS_NEW_BANNER = False

# --- Accounts (allauth) ---------------------------------------------------------------------------
LOGIN_URL = "members:login"
LOGIN_REDIRECT_URL = "members:welcome"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_QUERY_EMAIL = False
# Tokens are kept encrypted on the member record instead (allauth would store them in clear).
SOCIALACCOUNT_STORE_TOKENS = False
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "members.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Staff use the admin only with TOTP enrolled (./run turns this off for the local demo).
STAFF_REQUIRE_MFA = env_bool("STAFF_REQUIRE_MFA", True)
MFA_TOTP_ISSUER = WAGTAIL_SITE_NAME

# --- Weibo --------------------------------------------------------------------------------------
WEIBO_API_BASE = (env_str("WEIBO_API_BASE", "https://api.weibo.com") or "").rstrip("/")
WEIBO_AUTHORIZE_BASE = (env_str("WEIBO_AUTHORIZE_BASE", WEIBO_API_BASE) or "").rstrip("/")
WEIBO_APP_KEY = env_str("WEIBO_APP_KEY", "")
WEIBO_APP_SECRET = env_str("WEIBO_APP_SECRET", "")
WEIBO_HTTP_TIMEOUT = float(env_str("WEIBO_HTTP_TIMEOUT", "10") or 10)

# --- Sharing to Weibo ---------------------------------------------------------------------------
# A worker holds a share in flight for this long; it must exceed the longest Weibo call
# (connect 5 s + WEIBO_HTTP_TIMEOUT), or a slow call could be taken over and posted twice.
SHARE_SENDING_LEASE = env_int("SHARE_SENDING_LEASE", int(3 * WEIBO_HTTP_TIMEOUT + 30))
SHARE_MAX_ATTEMPTS = env_int("SHARE_MAX_ATTEMPTS", 8)
# A share held back by Weibo's hourly rate limit waits for the next hour this many times at most.
SHARE_MAX_RATE_LIMIT_WAITS = env_int("SHARE_MAX_RATE_LIMIT_WAITS", 24)
# Weibo's rate-limit window in seconds (its limits are per clock hour).
SHARE_RATE_LIMIT_WINDOW = env_int("SHARE_RATE_LIMIT_WINDOW", 3600)
SHARE_RETRY_BASE_DELAY = env_int("SHARE_RETRY_BASE_DELAY", 30)
# Retries wait in the broker as countdown messages: keep them far below its visibility timeout.
SHARE_RETRY_MAX_DELAY = min(env_int("SHARE_RETRY_MAX_DELAY", 900), CELERY_VISIBILITY_TIMEOUT // 4)
# Posting can have its own queue (and workers), so a Weibo outage never delays other tasks.
SHARE_QUEUE = env_str("SHARE_QUEUE", "") or CELERY_TASK_DEFAULT_QUEUE
# A queued share untouched for this long is queued again (its message was lost).
SHARE_SWEEP_GRACE = env_int("SHARE_SWEEP_GRACE", 300)
# Posts are read back from Weibo for this many days after sharing, once per interval (seconds),
# this many per run; a deleted post gives back its share points (share/deleted_posts.py).
SHARE_POST_CHECK_DAYS = env_int("SHARE_POST_CHECK_DAYS", 30)
SHARE_POST_CHECK_INTERVAL = env_int("SHARE_POST_CHECK_INTERVAL", 86400)
SHARE_POST_CHECK_BATCH = env_int("SHARE_POST_CHECK_BATCH", 500)
# Font file for share card pictures; empty = look for Noto Sans CJK (fonts-noto-cjk) and others.
SHARE_CARD_FONT = env_str("SHARE_CARD_FONT", "")
CLUB_NAME = WAGTAIL_SITE_NAME
# Where a member sees a posted share ({uid} and {id} are filled in).
WEIBO_STATUS_URL = env_str("WEIBO_STATUS_URL", "https://weibo.com/{uid}/{id}")
SOCIALACCOUNT_PROVIDERS = {
    "weibo": {
        "APPS": [{"client_id": WEIBO_APP_KEY, "secret": WEIBO_APP_SECRET, "key": ""}],
        "SCOPE": [],
    }
}
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

# --- Audit trail (core/audit/) ------------------------------------------------------------------
# HMAC keys of the audit chain, "id:base64key,id2:base64key" (32 bytes or more each; every key an
# entry was ever sealed with stays listed). AUDIT_KEY_ID seals new entries (default: the first).
# Unset: a key derived from SECRET_KEY (id "dev"); `check --deploy` warns.
AUDIT_KEYS = env_str("AUDIT_KEYS", "") or ""
AUDIT_KEY_ID = env_str("AUDIT_KEY_ID", "") or ""
# Where signed checkpoints are kept besides the log stream: a STORAGES alias ("" = log only).
AUDIT_CHECKPOINT_STORAGE = env_str("AUDIT_CHECKPOINT_STORAGE", "default") or ""
if AUDIT_CHECKPOINT_STORAGE.lower() in ("none", "off", "false"):
    AUDIT_CHECKPOINT_STORAGE = ""

# --- Personal information (PIPL; members/privacy, docs/privacy.md) --------------------------------
# Days a member's data export can be downloaded before its file is deleted.
PRIVACY_EXPORT_DAYS = env_int("PRIVACY_EXPORT_DAYS", 7)
# Days an encrypted copy of a departing member's data is kept because a regulator requires
# records to be retained; 0 (the default) keeps none.
PRIVACY_LEGAL_HOLD_DAYS = env_int("PRIVACY_LEGAL_HOLD_DAYS", 0)
if PRIVACY_EXPORT_DAYS < 1 or PRIVACY_LEGAL_HOLD_DAYS < 0:
    raise ImproperlyConfigured(
        "PRIVACY_EXPORT_DAYS must be at least 1 and PRIVACY_LEGAL_HOLD_DAYS at least 0."
    )

# --- Mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "club@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Ops", addr) for addr in env_list("ADMIN_EMAILS", [])]

# --- Logging: one JSON object per line in production, readable text in development --------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
        "django_tasks": {"level": "WARNING"},
        # Signed audit checkpoints, one JSON line each: ship this logger somewhere we keep.
        "core.audit.checkpoint": {"level": "INFO"},
    },
}
