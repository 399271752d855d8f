"""Weibo's REST endpoints (users/show, statuses/share, statuses/show) and the CDN-like avatar
and picture URLs."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from . import images
from .rules import (
    MAX_STATUS_LENGTH,
    has_topic,
    mentions_safe_domain,
    sniff_image,
    text_length,
    valid_ip,
    weibo_time,
)
from .users import render_user
from .web import (
    Request,
    Response,
    Sandbox,
    api_error,
    invalid_parameter,
    json_response,
    missing_parameter,
    not_found,
)

USERS_SHOW = "/2/users/show.json"
SHARE = "/2/statuses/share.json"
STATUS_SHOW = "/2/statuses/show.json"
MAX_PIC_BYTES = 5 * 1024 * 1024
HOUR = 3600

AVATAR_RE = re.compile(r"/avatars/(\d+)/(50|180|hd)\.jpg")
DEFAULT_AVATAR_RE = re.compile(r"/avatars/default/default_avatar_(male|female)_(50|180)\.gif")
PIC_RE = re.compile(r"/pics/(thumbnail|bmiddle|large)/([0-9a-f]{32})\.(jpg|png|gif)")


def token_from(req: Request) -> tuple[str | None, str | None]:
    """The token and where it came from (``param`` or ``header``); Weibo accepts both."""
    token = req.param("access_token")
    if token:
        return token, "param"
    scheme, _, value = (req.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "oauth2" and value.strip():
        return value.strip(), "header"
    return None, None


def authenticate(app: Sandbox, req: Request) -> tuple[dict | None, Response | None]:
    token, _ = token_from(req)
    state, record = app.store.token_lookup(token)
    if state == "ok" and record and app.store.user_get(record["uid"]) is not None:
        return record, None
    if state == "expired":
        return None, api_error(req.path, 401, 21327, "expired_token")
    if state == "revoked":
        return None, api_error(req.path, 401, 21332, "invalid_access_token")
    return None, api_error(req.path, 401, 21301, "auth faild!")


def users_show(app: Sandbox, req: Request) -> Response:
    _, problem = authenticate(app, req)
    if problem:
        return problem
    uid, screen_name = req.param("uid"), req.param("screen_name")
    if bool(uid) == bool(screen_name):
        return missing_parameter(USERS_SHOW, "uid")
    if uid:
        if not uid.strip().isdigit():
            return invalid_parameter(USERS_SHOW, "uid", "uid", uid)
        user = app.store.user_get(uid.strip())
    else:
        user = app.store.user_by_screen_name(screen_name or "")
    if user is None:
        return api_error(USERS_SHOW, 400, 20003, "User does not exists!")
    return json_response(render_user(user, req.base_url))


def pic_urls(base_url: str, post: dict) -> dict[str, str]:
    pic = post["pic"]
    pid, ext = pic["sha256"][:32], pic["ext"]
    return {
        "thumbnail_pic": f"{base_url}/pics/thumbnail/{pid}.{ext}",
        "bmiddle_pic": f"{base_url}/pics/bmiddle/{pid}.{ext}",
        "original_pic": f"{base_url}/pics/large/{pid}.{ext}",
    }


def status_object(app: Sandbox, base_url: str, post: dict, user: dict) -> dict[str, Any]:
    """The status statuses/share answers with, in the field order of real captures."""
    source = (
        f'<a href="{escape(app.config.source_url)}" rel="nofollow">'
        f"{escape(app.config.app_name)}</a>"
    )
    status: dict[str, Any] = {
        "created_at": weibo_time(post["created_at"]),
        "id": post["id"],
        "idstr": post["idstr"],
        "mid": post["idstr"],
        "text": post["text"],
        "source": source,
        "favorited": False,
        "truncated": False,
        "pic_urls": [],
    }
    if post["pic"]:
        urls = pic_urls(base_url, post)
        status["pic_urls"] = [{"thumbnail_pic": urls["thumbnail_pic"]}]
        status.update(urls)
    status.update(
        {
            "user": render_user(user, base_url),
            "reposts_count": 0,
            "comments_count": 0,
            "attitudes_count": 0,
            "visible": {"type": 0, "list_id": 0},
        }
    )
    return status


def status_show(app: Sandbox, req: Request) -> Response:
    """statuses/show: one status by id; a deleted (or unknown) one is Weibo's 20101."""
    _, problem = authenticate(app, req)
    if problem:
        return problem
    post_id = (req.param("id") or "").strip()
    if not post_id:
        return missing_parameter(STATUS_SHOW, "id")
    if not post_id.isdigit():
        return invalid_parameter(STATUS_SHOW, "id", "id", post_id)
    post = app.store.post_get(post_id)
    user = app.store.user_get(post["uid"]) if post else None
    if post is None or post.get("deleted_at") or user is None:
        return api_error(STATUS_SHOW, 400, 20101, "target weibo does not exist!")
    return json_response(status_object(app, req.base_url, post, user))


def _picture(req: Request) -> tuple[str, bytes] | None:
    upload = req.files.get("pic")
    if upload is not None:
        return upload.filename or "pic", upload.data
    if "pic" in req.form:
        return "pic", req.form["pic"].encode("utf-8")
    return None


def share(app: Sandbox, req: Request) -> Response:
    """statuses/share, checking in the order Weibo reports problems."""
    token, problem = authenticate(app, req)
    if problem or token is None:
        return problem or api_error(SHARE, 401, 21301, "auth faild!")
    status, rip = req.param("status"), req.param("rip")
    if not status or not status.strip():
        return missing_parameter(SHARE, "status")
    if not rip:
        return missing_parameter(SHARE, "rip")
    if not valid_ip(rip):
        return invalid_parameter(SHARE, "rip", "ip address", rip)
    pic = None
    picture = _picture(req)
    if picture is not None:
        filename, data = picture
        kind = sniff_image(data)
        if kind is None:
            return api_error(
                SHARE, 400, 20005, "Unsupported image type, only suport JPG, GIF, PNG!"
            )
        if len(data) >= MAX_PIC_BYTES:
            return api_error(SHARE, 400, 20006, "Image size too large.")
        pic = (filename, kind[0], kind[1], data)
    if has_topic(status):
        return api_error(SHARE, 400, 10017, "topic is not allowed!")
    if not mentions_safe_domain(status, app.config.safe_domain):
        return api_error(SHARE, 400, 10017, "text not find domain!")
    if text_length(status) > MAX_STATUS_LENGTH:
        return api_error(
            SHARE, 400, 20012, "Text too long, please input text less than 140 characters!"
        )
    uid = token["uid"]
    store = app.store
    # Held across the checks and the write so concurrent shares cannot both slip under the cap.
    with store.lock:
        previous = store.posts_by(uid)
        if previous and previous[-1]["text"] == status:
            return api_error(SHARE, 400, 20019, "repeat content!")
        since = store.clock() - HOUR
        recent = [
            p for p in store.posts_by(uid, app_key=token["app_key"]) if p["created_at"] > since
        ]
        if len(recent) >= app.config.share_hourly_limit:
            return api_error(
                SHARE, 403, 10024, "User requests for /statuses/share out of rate limit!"
            )
        post = store.post_add(uid=uid, app_key=token["app_key"], text=status, rip=rip, pic=pic)
        user = dict(store.users[uid])
    return json_response(status_object(app, req.base_url, post, user))


def _image(body: bytes, content_type: str) -> Response:
    return Response(
        status=200,
        body=body,
        content_type=content_type,
        headers=[("Cache-Control", "public, max-age=86400")],
    )


def avatar(app: Sandbox, req: Request) -> Response:
    match = DEFAULT_AVATAR_RE.fullmatch(req.path)
    if match:
        return _image(images.default_avatar_gif(int(match.group(2))), "image/gif")
    match = AVATAR_RE.fullmatch(req.path)
    if not match or app.store.user_get(match.group(1)) is None:
        return not_found(req.path)
    size = images.AVATAR_SIZES[match.group(2)]
    return _image(images.avatar_jpeg(match.group(1), size), "image/jpeg")


def picture(app: Sandbox, req: Request) -> Response:
    """Every size serves the stored original: enough for a demo, and byte-identical for tests."""
    match = PIC_RE.fullmatch(req.path)
    post = app.store.post_by_pid(match.group(2)) if match else None
    data = app.store.pic_bytes(post) if post else None
    if post is None or data is None:
        return not_found(req.path)
    return _image(data, post["pic"]["content_type"])
