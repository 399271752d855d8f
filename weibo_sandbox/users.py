"""Weibo user records: validation of what tests send and the users/show rendering.

A stored user keeps only the facts; URLs are derived per request from the Host header, so the same
state works behind any address the sandbox is reached at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rules import parse_time, weibo_time

STR_FIELDS = (
    "screen_name", "name", "province", "city", "location", "description", "url", "domain",
    "weihao", "gender", "verified_reason", "remark", "lang",
)  # fmt: skip
INT_FIELDS = (
    "followers_count", "friends_count", "statuses_count", "favourites_count", "verified_type",
    "online_status", "bi_followers_count", "block_word", "star", "mbtype", "mbrank",
)  # fmt: skip
BOOL_FIELDS = (
    "following", "allow_all_act_msg", "geo_enabled", "verified", "allow_all_comment", "follow_me",
    "default_avatar",
)  # fmt: skip
#: Derived on output; accepted on input so a users/show answer can be posted back as is.
DERIVED_FIELDS = ("profile_image_url", "profile_url", "avatar_large", "avatar_hd")

DEFAULTS: dict[str, Any] = {
    "screen_name": "",
    "name": "",
    "province": "100",
    "city": "1000",
    "location": "其他",
    "description": "",
    "url": "",
    "domain": "",
    "weihao": "",
    "gender": "n",
    "followers_count": 0,
    "friends_count": 0,
    "statuses_count": 0,
    "favourites_count": 0,
    "following": False,
    "allow_all_act_msg": False,
    "geo_enabled": True,
    "verified": False,
    "verified_type": -1,
    "verified_reason": "",
    "remark": "",
    "allow_all_comment": True,
    "follow_me": False,
    "online_status": 0,
    "bi_followers_count": 0,
    "lang": "zh-cn",
    "block_word": 0,
    "star": 0,
    "mbtype": 0,
    "mbrank": 0,
    "default_avatar": False,
    "token_ttl": None,
    "show_override": {},
}


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ValueError(f"{key} must be a boolean")


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer") from None


def normalize_user(data: Mapping[str, Any], existing: dict | None, now: float) -> dict:
    """Merge ``data`` into ``existing`` (or a fresh user); raise ValueError on anything unknown.

    Unknown keys are refused rather than ignored so a misspelt field in a test fails loudly.
    """
    if not isinstance(data, Mapping):
        raise ValueError("a user must be a JSON object")
    raw_id = data.get("idstr", data.get("id"))
    if raw_id is None:
        raise ValueError("id or idstr is required")
    uid = str(raw_id).strip()
    if not uid.isdigit() or len(uid) > 19:
        raise ValueError("id must be a number of at most 19 digits")
    if "id" in data and "idstr" in data and str(data["id"]).strip() != str(data["idstr"]).strip():
        raise ValueError("id and idstr disagree")
    user = dict(existing) if existing else {**DEFAULTS, "idstr": uid, "created_at": now}
    for key, value in data.items():
        if key in ("id", "idstr") or key in DERIVED_FIELDS:
            continue
        if key in STR_FIELDS:
            user[key] = "" if value is None else str(value)
        elif key in INT_FIELDS:
            user[key] = _as_int(key, value)
        elif key in BOOL_FIELDS:
            user[key] = _as_bool(key, value)
        elif key == "created_at":
            user[key] = parse_time(value)
        elif key == "token_ttl":
            user[key] = None if value is None else _as_int(key, value)
        elif key == "show_override":
            if not isinstance(value, Mapping):
                raise ValueError("show_override must be a JSON object")
            user[key] = dict(value)
        else:
            raise ValueError(f"unknown user field {key!r}")
    if "screen_name" in data and "name" not in data:
        user["name"] = user["screen_name"]
    if not user["screen_name"]:
        raise ValueError("screen_name is required")
    if not user["name"]:
        user["name"] = user["screen_name"]
    if user["gender"] not in ("m", "f", "n"):
        raise ValueError("gender must be m, f or n")
    return user


def avatar_urls(user: Mapping[str, Any], base_url: str) -> tuple[str, str, str]:
    """50×50, 180×180 and HD avatar URLs, served by the sandbox itself."""
    if user.get("default_avatar"):
        kind = "female" if user.get("gender") == "f" else "male"
        small = f"{base_url}/avatars/default/default_avatar_{kind}_50.gif"
        large = f"{base_url}/avatars/default/default_avatar_{kind}_180.gif"
        return small, large, large
    uid = user["idstr"]
    return (
        f"{base_url}/avatars/{uid}/50.jpg",
        f"{base_url}/avatars/{uid}/180.jpg",
        f"{base_url}/avatars/{uid}/hd.jpg",
    )


def render_user(user: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The users/show object, in the field order of real captures, with the user's
    ``show_override`` laid over it verbatim (any JSON values, even another ``idstr``)."""
    return {**_render_user(user, base_url), **(user.get("show_override") or {})}


def _render_user(user: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    small, large, hd = avatar_urls(user, base_url)
    uid = user["idstr"]
    return {
        "id": int(uid),
        "idstr": uid,
        "screen_name": user["screen_name"],
        "name": user["name"],
        "province": user["province"],
        "city": user["city"],
        "location": user["location"],
        "description": user["description"],
        "url": user["url"],
        "profile_image_url": small,
        "profile_url": f"u/{uid}",
        "domain": user["domain"],
        "weihao": user["weihao"],
        "gender": user["gender"],
        "followers_count": user["followers_count"],
        "friends_count": user["friends_count"],
        "statuses_count": user["statuses_count"],
        "favourites_count": user["favourites_count"],
        "created_at": weibo_time(user["created_at"]),
        "following": user["following"],
        "allow_all_act_msg": user["allow_all_act_msg"],
        "geo_enabled": user["geo_enabled"],
        "verified": user["verified"],
        "verified_type": user["verified_type"],
        "verified_reason": user["verified_reason"],
        "remark": user["remark"],
        "allow_all_comment": user["allow_all_comment"],
        "avatar_large": large,
        "avatar_hd": hd,
        "follow_me": user["follow_me"],
        "online_status": user["online_status"],
        "bi_followers_count": user["bi_followers_count"],
        "lang": user["lang"],
        "block_word": user["block_word"],
        "star": user["star"],
        "mbtype": user["mbtype"],
        "mbrank": user["mbrank"],
    }


def render_user_for_control(user: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """users/show plus the sandbox-only knobs, for the control API."""
    return {
        **render_user(user, base_url),
        "default_avatar": user["default_avatar"],
        "token_ttl": user["token_ttl"],
        "show_override": user.get("show_override") or {},
    }
