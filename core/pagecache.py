"""Page caching by what the gate decides, never by a guess about the viewer.

Two layers share one invalidation rule:

- **Outsider pages.** Everything an anonymous visitor can see (the public front door, the
  community home and teasers as outsiders see them, public posts, share landing pages, the
  sitemap and the public feed) is the same for every outsider. ``OutsiderPageCacheMiddleware``
  keeps one copy per URL and language in Redis and serves it before sessions, authentication
  or the URL resolver run. A view opts in with ``mark_outsider_cacheable`` only when the gate
  answered for an outsider; the middleware stores a response only for a request that carries
  no session and no cookie that could change the page, and only when the response sets no
  cookie. Everything else leaves as ``private``.
- **Fragments by access class.** Member pages render the part that depends only on the
  viewer's access (tier, membership state) once per access class and keep it
  (``fragment``); the personal parts around it (name, badges, like state, notifications,
  claim state) are fetched per request.

Invalidation is by *generation*: one counter in Redis that every entry is tagged with. Any
change that can alter what some viewer sees (a page saved, published, unpublished, moved or
deleted, a view restriction, a tier, the admission rule, a comment decision, a share's public
name…) bumps it after commit, and every entry tagged with an older generation is dead at
once, on every web process. Changes that happen by the clock (a scheduled go-live, an expiry,
the end of an early-access window) bump nothing, so no entry lives past the next such moment:
``register_transition_source`` lets each app name its next one, and entry lifetimes are cut
to it.

Why a generation and not per-URL purges (Wagtail's frontend cache invalidation, wagtail-cache):
a change to one item alters many URLs (the feed pages of every tier, the item, pages that
embed it, the sitemap, share landing pages of it), and the set depends on the gate. Purging
one counter is exact and cannot miss a URL; the price is re-rendering pages after each
publish, which a club's publishing rate makes negligible. The storage is Django's cache
framework on the Redis the site already runs. See docs/architecture.md ("Caching").
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

from core.clock import local_today
from core.languages import request_language

logger = logging.getLogger(__name__)

GENERATION_KEY = "pagecache:generation"
_TRANSITION_KEY = "pagecache:next-transition"
_OUTSIDER_PREFIX = "pagecache:outsider:"
_FRAGMENT_PREFIX = "pagecache:fragment:"
# Request attribute a view sets through ``mark_outsider_cacheable``.
_MARK = "_outsider_cache"

# Cookies that never change what an outsider page shows. The language cookie is part of the
# key; the CSRF cookie only matters to forms, which outsider pages do not carry; the share
# funnel's visitor and referral cookies are read by per-hit work, not by the page.
NEUTRAL_COOKIES = {"csrftoken", "club_vid", "club_ref"}


# --- Generation -----------------------------------------------------------------------------------


def _generation_from(value: Any) -> int:
    """The current generation; a missing counter restarts from the clock, so it never goes back
    to a value an old entry was tagged with (Redis restarted, the key evicted)."""
    if isinstance(value, int):
        return value
    cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
    return cache.get(GENERATION_KEY) or time.time_ns()


def generation() -> int:
    return _generation_from(cache.get(GENERATION_KEY))


def redis_client():
    """The raw Redis client behind the cache, for counters the cache API lacks (hashes);
    name keys with ``cache.make_key`` so deployments sharing a server stay apart."""
    return cache._cache.get_client(write=True)


def _bump_now() -> None:
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # no counter yet: starting one is as good as a bump
        _generation_from(None)
    except Exception:  # noqa: BLE001 - Redis away: nothing can be served from it either
        logger.exception("page cache: generation not bumped")


def bump() -> None:
    """Invalidate every cached page and fragment, now and again once the transaction commits.

    Now, so that reads inside the same transaction never meet an old copy. Again after commit:
    a request that rendered between the first bump and the commit read the old rows and tagged
    its entry with the new generation, and that entry must die too.
    """
    _bump_now()
    if connection.in_atomic_block:
        transaction.on_commit(_bump_now)


def bump_on_change(sender, **kwargs) -> None:
    """A signal receiver for models whose every change can alter what some viewer sees."""
    bump()


def invalidate_on_change(*models) -> None:
    """Bump the generation whenever a row of one of ``models`` is saved or deleted."""
    from django.db.models.signals import post_delete, post_save

    for model in models:
        uid = f"pagecache-{model._meta.label}"
        post_save.connect(bump_on_change, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(bump_on_change, sender=model, dispatch_uid=f"{uid}-delete")


# --- Clock transitions ----------------------------------------------------------------------------

_transition_sources: list[Callable[[datetime], datetime | None]] = []


def register_transition_source(source: Callable[[datetime], datetime | None]) -> None:
    """``source(now)`` returns the next moment after ``now`` at which what some viewer may see
    changes by the clock alone (None when there is none)."""
    if source not in _transition_sources:
        _transition_sources.append(source)


def _next_transition(current: int) -> float | None:
    """Epoch seconds of the next clock transition, computed once per generation."""
    now = time.time()
    entry = cache.get(_TRANSITION_KEY)
    if entry and entry[0] == current and (entry[1] is None or entry[1] > now):
        return entry[1]
    moments = [m for source in _transition_sources if (m := source(timezone.now()))]
    upcoming = min(moments).timestamp() if moments else None
    cache.set(_TRANSITION_KEY, (current, upcoming), timeout=None)
    return upcoming


def lifetime(current: int, ttl: int) -> int:
    """``ttl`` cut to the next clock transition; 0 (keep nothing) when that is under a second
    away, so no entry ever outlives the moment it would turn wrong."""
    upcoming = _next_transition(current)
    if upcoming is None:
        return ttl
    return max(0, min(ttl, int(upcoming - time.time())))


# --- Fragments by access class --------------------------------------------------------------------


def _digest(parts: tuple) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()  # noqa: S324


def fragment(parts: tuple, build: Callable[[], Any], *, ttl: int | None = None) -> Any:
    """The value for ``parts`` in the current generation, built (and kept) when missing.

    ``parts`` must name everything the value depends on besides the shared data: the access
    class (``access_class``), the language, the object and any request parameter used.
    """
    key = _FRAGMENT_PREFIX + _digest(parts)
    try:
        found = cache.get_many([GENERATION_KEY, key])
    except Exception:  # noqa: BLE001 - Redis away: render, as if nothing were cached
        logger.warning("page cache unavailable", exc_info=True)
        return build()
    current = _generation_from(found.get(GENERATION_KEY))
    entry = found.get(key)
    if entry is not None and entry[0] == current:
        return entry[1]
    value = build()
    try:
        timeout = lifetime(current, ttl or settings.PAGE_CACHE_FRAGMENT_TTL)
        if timeout:
            cache.set(key, (current, value), timeout=timeout)
    except Exception:  # noqa: BLE001
        logger.warning("page cache: fragment not kept", exc_info=True)
    return value


def access_class(viewer) -> str:
    """What the gate's decisions and the shared part of a page depend on: the viewer's kind
    and, for members, their tier (its rank decides early access)."""
    if viewer.kind == "member":
        tier = viewer.tier
        return f"member:{tier.pk}:{tier.rank}" if tier is not None else "member:-"
    return viewer.kind


# --- A member's own pages ------------------------------------------------------------------------

_PERSONAL_PREFIX = "pagecache:personal:v2:"


def _has_pending_messages(request: HttpRequest) -> bool:
    """A one-off message (``django.contrib.messages``) waits for this page: render it."""
    if "messages" in request.COOKIES:
        return True
    session = getattr(request, "session", None)
    return session is not None and "_messages" in session


def _keep_nothing(response: HttpResponse) -> HttpResponse:
    return response


VersionSql = Callable[[int], "tuple[str, list] | None"]

# Where this process has kept a member's page with a version statement: that statement for a
# given member id, by (host, full path). Only a guess of what the next request there will ask
# (``version_to_read_with_session``); a page that changed since just asks something else.
_version_plans: dict[tuple[str, str], VersionSql] = {}


def _place(request: HttpRequest) -> tuple[str, str]:
    return request.get_host().lower(), request.get_full_path()


def version_to_read_with_session(request: HttpRequest, member_id: int) -> tuple[str, list] | None:
    """The version statement this request's page will most likely ask for ``member_id``, to be
    read in the same round trip as the session (``members.sessions``), or None."""
    plan = _version_plans.get(_place(request))
    return plan(member_id) if plan is not None else None


def _page_version(request: HttpRequest, statement: tuple[str, list]):
    """The value of the page's version statement: read along with the session when exactly
    this statement with these parameters was (``SessionStore.read_along``), else now."""
    read_along = getattr(getattr(request, "session", None), "read_along", None)
    if read_along is not None and read_along[0] == statement:
        return read_along[1]
    from core.prepared import fetchone_prepared

    row = fetchone_prepared(*statement)
    return row[0] if row else None


def personal_copy(
    request: HttpRequest, member, *, version_sql: VersionSql | None = None, ttl: int = 60
) -> tuple[HttpResponse | None, Callable[[HttpResponse], HttpResponse]]:
    """A signed-in member's kept copy of this page, or None and a function that keeps the
    page once rendered (it also marks the response ``private``).

    Such a copy is kept per member and per browser, never shared. The key names everything a
    member's page depends on besides shared data: the member and what the site header shows
    of them (name, tier, state, the notification badge), the browser's CSRF cookie (forms
    carry a token masked from it; a browser without one is never served a copy), the
    language, the day, the generation (any shared change; the shared parts of a page are
    kept per generation anyway) and ``version_sql``: for a member id, one SQL statement with
    its parameters whose single value names the versions of the page's own rows (for the
    points page, the account row's PostgreSQL ``xmin``, which every balance, pending or tier
    change rewrites; for an item page, ``community.item_copy``). It is prepared on the server
    like the sign-in read (``core.prepared``). The badge comes with the user at sign-in
    (``members.sessions``). Where this process has kept the page before, the next request
    there reads the version in the sign-in statement itself (``version_to_read_with_session``)
    and uses it only when the statement and its parameters are exactly the ones asked here;
    so a kept page usually costs no query beyond signing in. ``ttl`` bounds what changes by
    the clock alone, and lifetimes are cut to the next clock transition. A page with a one-off
    message waiting is never kept nor served from a copy. The response's ``Cache-Control`` is
    kept with it (``no-store`` stays).
    """
    from django.utils.translation import get_language

    if (
        not settings.PAGE_CACHE_ENABLED
        or request.method != "GET"
        or _has_pending_messages(request)
        # Without the browser's CSRF cookie the page would mint one: a copy would hand its
        # forms a token masked from a secret this browser never receives.
        or settings.CSRF_COOKIE_NAME not in request.COOKIES
    ):
        return None, _keep_nothing
    from core.notifications import request_badge

    unread, newest = request_badge(request)
    version = 0
    statement = version_sql(member.pk) if version_sql is not None else None
    if statement is not None:
        version = _page_version(request, statement)
        if len(_version_plans) < 10_000:
            _version_plans[_place(request)] = version_sql
    parts = (
        "personal", request.get_host().lower(), request.get_full_path(), get_language(),
        member.pk, member.state, member.tier_id, member.display_name, member.weibo_screen_name,
        member.weibo_avatar_url, request.COOKIES[settings.CSRF_COOKIE_NAME], unread, newest,
        version, local_today(),
    )  # fmt: skip
    key = _PERSONAL_PREFIX + _digest(parts)
    try:
        found = cache.get_many([GENERATION_KEY, key])
        current = _generation_from(found.get(GENERATION_KEY))
    except Exception:  # noqa: BLE001 - Redis away: render
        logger.warning("page cache unavailable", exc_info=True)
        return None, _keep_nothing
    entry = found.get(key)
    if entry is not None and entry[0] == current:
        response = HttpResponse(entry[2], content_type=entry[1])
        if entry[3]:
            response["Cache-Control"] = entry[3]
        response["X-Page-Cache"] = "hit"
        _private(response)
        return response, _keep_nothing

    def keep(response: HttpResponse) -> HttpResponse:
        if (
            response.status_code == 200
            and not response.streaming
            and not response.cookies
            and not _has_pending_messages(request)
        ):
            try:
                if timeout := lifetime(current, ttl):
                    value = (current, response["Content-Type"], response.content,
                             response.get("Cache-Control", ""))  # fmt: skip
                    cache.set(key, value, timeout=timeout)
            except Exception:  # noqa: BLE001
                logger.warning("page cache: page not kept", exc_info=True)
        _private(response)
        return response

    return None, keep


def personal_page(*, version_sql: VersionSql) -> Callable:
    """A view of a member's own page served from ``personal_copy`` while nothing it shows
    changed. The view must set ``request.member`` (``member_required``) before this runs."""
    from functools import wraps

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            hit, keep = personal_copy(request, request.member, version_sql=version_sql)
            if hit is not None:
                return hit
            return keep(view(request, *args, **kwargs))

        return wrapped

    return decorator


_PERSONAL_MARK = "_personal_cacheable"


def mark_personal_cacheable(request: HttpRequest) -> None:
    """This page holds nothing personal beyond the site header (the shared parts are kept per
    access class): a member's copy of it may be kept (``serve_page`` does)."""
    setattr(request, _PERSONAL_MARK, True)


def personal_cacheable(request: HttpRequest) -> bool:
    return getattr(request, _PERSONAL_MARK, False)


# --- Outsider pages -------------------------------------------------------------------------------

HitHandler = Callable[..., None]
_hit_handlers: dict[str, HitHandler] = {}


def register_hit_handler(name: str, handler: HitHandler) -> None:
    """Per-visitor work a cached page still needs on every request (counting a view, setting
    a referral cookie): ``handler(request, response, **params)``."""
    _hit_handlers[name] = handler


def mark_outsider_cacheable(
    request: HttpRequest, *, on_hit: str | None = None, **params: Any
) -> None:
    """The response to ``request`` is what every outsider gets at this URL.

    Call only after the gate answered for an outsider. ``on_hit`` names a registered handler
    run for this request and for every later request served from the copy.
    """
    setattr(request, _MARK, (on_hit, params))


# Paths no view ever marks (infrastructure, sign-in, members' own pages, staff, media): asking
# Redis for them would only add a round trip to every such request.
SKIPPED_PREFIXES = (
    "/robots.txt", "/healthz", "/admin/", "/accounts/", "/members/", "/points/",
    "/notifications/", "/i18n/", "/img/", "/media/", "/documents/", "/ws/", "/static/",
    "/share/", "/search/", "/api/",
)  # fmt: skip


def _eligible(request: HttpRequest) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if request.path.startswith(SKIPPED_PREFIXES):
        return False
    if len(request.META.get("QUERY_STRING", "")) > 200:
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies:
        return False
    return all(name in NEUTRAL_COOKIES or name == settings.LANGUAGE_COOKIE_NAME
               for name in cookies)  # fmt: skip


def _language(request: HttpRequest) -> str:
    return request_language(request)  # the language the page is rendered in


def outsider_key(request: HttpRequest) -> str:
    parts = (request.get_host().lower(), _language(request), request.get_full_path())
    return _OUTSIDER_PREFIX + _digest(parts)


@dataclass(frozen=True)
class _Stored:
    generation: int
    status: int
    content: bytes
    headers: tuple[tuple[str, str], ...]
    on_hit: str | None
    params: dict
    expires_at: float


_UNSTORED_HEADERS = {"set-cookie", "cache-control", "date", "expires"}


def _public(response: HttpResponse, expires_at: float) -> None:
    proxy_seconds = max(0, min(settings.PAGE_CACHE_PROXY_MAX_AGE, int(expires_at - time.time())))
    response["Cache-Control"] = f"public, max-age=0, s-maxage={proxy_seconds}"
    patch_vary_headers(response, ["Cookie"])


def _private(response: HttpResponse) -> None:
    """No copy in any shared cache; the browser may keep the page for back/forward only."""
    if "no-store" not in response.get("Cache-Control", ""):
        response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ["Cookie"])


def run_hit_handler(request: HttpRequest, response: HttpResponse, name: str, **params) -> None:
    """Run the per-visit work registered as ``name`` for a page served from a kept copy."""
    _run_hit(request, response, name, params)


def _run_hit(request: HttpRequest, response: HttpResponse, on_hit: str | None, params) -> None:
    if on_hit is None:
        return
    handler = _hit_handlers.get(on_hit)
    if handler is None:
        logger.error("page cache: no handler %s registered", on_hit)
        return
    handler(request, response, **params)


def _from_stored(request: HttpRequest, stored: _Stored) -> HttpResponse:
    response = HttpResponse(
        b"" if request.method == "HEAD" else stored.content, status=stored.status
    )
    for name, value in stored.headers:
        response[name] = value
    response["Content-Length"] = str(len(stored.content))
    response["X-Page-Cache"] = "hit"
    _public(response, stored.expires_at)
    return response


class OutsiderPageCacheMiddleware:
    """Serve outsider pages from Redis before sessions, auth and the URL resolver run.

    Sits right after the security and static-file middleware. A copy is kept only when the
    view marked the response (``mark_outsider_cacheable``), the request is an outsider's (no
    session, no cookie outside ``NEUTRAL_COOKIES``), the status is 200 and nothing set a
    cookie. A response that was marked but could not be kept leaves as ``private``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _lifetime(current: int) -> int:
        try:
            return lifetime(current, settings.PAGE_CACHE_OUTSIDER_TTL)
        except Exception:  # noqa: BLE001
            logger.warning("page cache: page not kept", exc_info=True)
            return 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.PAGE_CACHE_ENABLED or not _eligible(request):
            response = self.get_response(request)
            marked = getattr(request, _MARK, None)
            if marked is not None:
                _private(response)
                _run_hit(request, response, *marked)
            elif settings.SESSION_COOKIE_NAME in request.COOKIES:
                # A signed-in viewer's page is theirs alone, whatever the view said.
                patch_cache_control(response, private=True)
            return response

        key = outsider_key(request)
        try:
            found = cache.get_many([GENERATION_KEY, key])
            current = _generation_from(found.get(GENERATION_KEY))
        except Exception:  # noqa: BLE001 - Redis away: every page is rendered, and private
            logger.warning("page cache unavailable", exc_info=True)
            response = self.get_response(request)
            marked = getattr(request, _MARK, None)
            if marked is not None:
                _private(response)
                _run_hit(request, response, *marked)
            return response
        stored = found.get(key)
        if stored is not None and stored.generation == current:
            response = _from_stored(request, stored)
            _run_hit(request, response, stored.on_hit, stored.params)
            return response

        response = self.get_response(request)
        marked = getattr(request, _MARK, None)
        if marked is None:
            return response
        if (
            response.status_code == 200
            and (timeout := self._lifetime(current))
            and not response.streaming
            and not response.cookies
            and request.method == "GET"
        ):
            headers = tuple(
                (name, value)
                for name, value in response.items()
                if name.lower() not in _UNSTORED_HEADERS
            )
            stored = _Stored(current, response.status_code, response.content, headers,
                             marked[0], marked[1], time.time() + timeout)  # fmt: skip
            try:
                cache.set(key, stored, timeout=timeout)
            except Exception:  # noqa: BLE001
                logger.warning("page cache: page not kept", exc_info=True)
            _public(response, stored.expires_at)
            response["X-Page-Cache"] = "miss"
        else:
            _private(response)
        _run_hit(request, response, *marked)
        return response
