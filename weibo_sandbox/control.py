"""The ``/_sandbox/`` control API: what tests and the demo use to see and steer the fake Weibo.

It is not part of Weibo's protocol, is never subject to injected faults, and answers plain JSON
(``{"error": "..."}`` with HTTP 400 on bad input).
"""

from __future__ import annotations

import re
from typing import Any

from . import pages
from .rules import iso_time, weibo_time
from .users import render_user_for_control
from .web import Request, Response, Sandbox, html_response, json_response, not_found

FAULT_MODES = ("error", "http", "slow", "drop")
POST_PIC_RE = re.compile(r"/_sandbox/posts/(\d+)/pic")
POST_DELETE_RE = re.compile(r"/_sandbox/posts/(\d+)/delete")

#: Weibo's wording for the codes a fault is most likely to imitate.
KNOWN_ERRORS = {
    10001: "system error!",
    10002: "service unavailable!",
    10003: "remote service error",
    10009: "too many pending tasks, system is busy!",
    10022: "IP requests out of rate limit!",
    10023: "User requests out of rate limit!",
    20016: "update weibo too fast!",
    20017: "same content within a short time!",
    20018: "contain illegal website!",
    20020: "contain advertising!",
    20021: "content is illegal!",
    21301: "auth faild!",
    21327: "expired_token",
    21331: "temporarily_unavailable",
    21332: "invalid_access_token",
}
_STATUS_BY_CODE = {10001: 500, 10002: 503, 10003: 502, 10009: 503, 21331: 503}
_RATE_CODES = (10022, 10023, 10024, 20016)
_AUTH_CODES = (21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332)


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def _json_body(req: Request) -> Any:
    try:
        return req.json()
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None


def health(app: Sandbox, req: Request) -> Response:
    return json_response({"ok": True})


def config(app: Sandbox, req: Request) -> Response:
    """The public half of the registered app, so a launcher can check it talks to the right one."""
    cfg = app.config
    return json_response(
        {
            "app_key": cfg.app_key,
            "app_name": cfg.app_name,
            "redirect_uris": cfg.redirect_uris,
            "safe_domain": cfg.safe_domain,
            "share_hourly_limit": cfg.share_hourly_limit,
            "token_ttl": cfg.token_ttl,
            "persistent": cfg.data_dir is not None,
        }
    )


def timeline(app: Sandbox, req: Request) -> Response:
    with app.store.lock:
        posts = list(app.store.posts)
        users = dict(app.store.users)
    html = pages.timeline_page(
        posts=posts,
        users=users,
        app_name=app.config.app_name,
        source_url=app.config.source_url,
        base_url=req.base_url,
    )
    return html_response(html)


def users_get(app: Sandbox, req: Request) -> Response:
    return json_response(
        [render_user_for_control(user, req.base_url) for user in app.store.users_list()]
    )


def users_post(app: Sandbox, req: Request) -> Response:
    try:
        data = _json_body(req)
        items = data if isinstance(data, list) else [data]
        users = app.store.users_upsert(items)
    except ValueError as exc:
        return _bad(str(exc))
    return json_response([render_user_for_control(user, req.base_url) for user in users])


def _post_view(app: Sandbox, req: Request, post: dict) -> dict[str, Any]:
    user = app.store.user_get(post["uid"])
    return {
        "id": post["id"],
        "idstr": post["idstr"],
        "uid": post["uid"],
        "screen_name": user["screen_name"] if user else None,
        "text": post["text"],
        "rip": post["rip"],
        "app_key": post["app_key"],
        "created_at": weibo_time(post["created_at"]),
        "created_ts": post["created_at"],
        "pic": post["pic"],
        "pic_url": f"{req.base_url}/_sandbox/posts/{post['idstr']}/pic" if post["pic"] else None,
        "deleted": bool(post.get("deleted_at")),
    }


def posts_get(app: Sandbox, req: Request) -> Response:
    """Oldest first, so ``[-1]`` is the latest post."""
    uid = req.query.get("uid")
    with app.store.lock:
        posts = [post for post in app.store.posts if uid is None or post["uid"] == uid]
    return json_response([_post_view(app, req, post) for post in posts])


def post_pic(app: Sandbox, req: Request) -> Response:
    match = POST_PIC_RE.fullmatch(req.path)
    post = app.store.post_get(match.group(1)) if match else None
    data = app.store.pic_bytes(post) if post else None
    if post is None or data is None:
        return not_found(req.path)
    return Response(status=200, body=data, content_type=post["pic"]["content_type"])


def post_delete(app: Sandbox, req: Request) -> Response:
    """The author deletes a post on Weibo (``POST /_sandbox/posts/<id>/delete``)."""
    match = POST_DELETE_RE.fullmatch(req.path)
    post = app.store.post_delete(match.group(1)) if match else None
    if post is None:
        return not_found(req.path)
    return json_response(_post_view(app, req, post))


def _token_target(req: Request) -> tuple[dict[str, str | None], str | None]:
    try:
        data = _json_body(req)
    except ValueError as exc:
        return {}, str(exc)
    if not isinstance(data, dict) or not (data.get("access_token") or data.get("uid")):
        return {}, "give access_token or uid"
    uid = data.get("uid")
    return {
        "access_token": data.get("access_token"),
        "uid": None if uid is None else str(uid),
    }, None


def tokens_expire(app: Sandbox, req: Request) -> Response:
    target, problem = _token_target(req)
    if problem:
        return _bad(problem)
    tokens = app.store.tokens_expire(**target)
    return json_response({"count": len(tokens), "tokens": tokens})


def tokens_revoke(app: Sandbox, req: Request) -> Response:
    target, problem = _token_target(req)
    if problem:
        return _bad(problem)
    tokens = app.store.tokens_revoke(**target)
    return json_response({"count": len(tokens), "tokens": tokens})


def tokens_issue(app: Sandbox, req: Request) -> Response:
    """A token without the browser dance, for tests of code that only posts."""
    try:
        data = _json_body(req)
    except ValueError as exc:
        return _bad(str(exc))
    uid = str(data.get("uid", "")) if isinstance(data, dict) else ""
    if app.store.user_get(uid) is None:
        return _bad(f"unknown uid {uid!r}")
    token = app.store.token_issue(uid=uid, app_key=app.config.app_key, scope="")
    expires_in = int(token["expires_at"]) - int(app.store.clock())
    return json_response(
        {
            "access_token": token["access_token"],
            "remind_in": str(expires_in),
            "expires_in": expires_in,
            "uid": uid,
            "isRealName": "true",
        }
    )


def _fault_from(spec: Any, now: float) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    unknown = set(spec) - {
        "path", "mode", "error_code", "http_status", "error", "delay", "count", "seconds",
        "probability",
    }  # fmt: skip
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    mode = spec.get("mode", "error")
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
    path = spec.get("path") or None
    if path is not None and (not str(path).startswith("/") or str(path).startswith("/_sandbox")):
        raise ValueError("path must start with / and not be under /_sandbox")
    count, seconds = spec.get("count"), spec.get("seconds")
    if count is None and seconds is None:
        count = 1
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError("count must be a positive integer")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        raise ValueError("seconds must be a positive number")
    probability = spec.get("probability", 1.0)
    if (
        not isinstance(probability, int | float) or isinstance(probability, bool)
        or not 0 < probability <= 1
    ):  # fmt: skip
        raise ValueError("probability must be a number in (0, 1]")
    code = int(spec.get("error_code", 10001))
    if code in _STATUS_BY_CODE:
        default_status = _STATUS_BY_CODE[code]
    elif code in _RATE_CODES:
        default_status = 403
    elif code in _AUTH_CODES:
        default_status = 401
    else:
        default_status = 400
    if mode == "http":
        default_status = 502
    default_error = KNOWN_ERRORS.get(code, "system error!")
    if code == 10024:
        short = (path or "/2/statuses/share.json").removeprefix("/2").removesuffix(".json")
        default_error = f"User requests for {short} out of rate limit!"
    return {
        "path": path,
        "mode": mode,
        "error_code": code,
        "http_status": int(spec.get("http_status", default_status)),
        "error": str(spec.get("error", default_error)),
        "delay": float(spec.get("delay", 3.0)),
        "count": count,
        "seconds": seconds,
        "remaining": count,
        "until": None if seconds is None else now + float(seconds),
        "probability": float(probability),
    }


def faults_post(app: Sandbox, req: Request) -> Response:
    try:
        data = _json_body(req)
        specs = data if isinstance(data, list) else [data]
        faults = [_fault_from(spec, app.store.clock()) for spec in specs]
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    added = [app.store.fault_add(fault) for fault in faults]
    return json_response(added if isinstance(data, list) else added[0])


def faults_get(app: Sandbox, req: Request) -> Response:
    return json_response(app.store.faults_list())


def faults_delete(app: Sandbox, req: Request) -> Response:
    return json_response({"cleared": app.store.faults_clear()})


def calls_get(app: Sandbox, req: Request) -> Response:
    """Oldest first; ``?path=`` keeps calls whose path starts with it, ``?limit=`` the last N."""
    calls = app.store.calls_list()
    prefix = req.query.get("path")
    if prefix:
        calls = [call for call in calls if call["path"].startswith(prefix)]
    limit = req.query.get("limit", "")
    if limit.isdigit():
        calls = calls[-int(limit) :] if int(limit) else []
    return json_response(calls)


def reset(app: Sandbox, req: Request) -> Response:
    app.store.reset()
    return json_response({"ok": True, "time": iso_time(app.store.clock())})
