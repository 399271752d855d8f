"""Small HTTP client for the Weibo open platform, shared by login, revocation and sharing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from members.weibo import errors


@dataclass
class WeiboError(Exception):
    """An error answer from Weibo. Decide on ``code`` (Weibo's error_code), not ``http_status``."""

    code: int
    message: str
    http_status: int | None = None
    request_path: str = ""

    def __str__(self) -> str:
        return f"Weibo error {self.code}: {self.message}"

    @property
    def rule(self) -> errors.ErrorRule:
        """What to do about it: members.weibo.errors decides on the code alone."""
        return errors.classify(self.code)

    @property
    def is_token_error(self) -> bool:
        return self.rule.action == errors.Action.REAUTH


def api_url(path: str) -> str:
    return f"{settings.WEIBO_API_BASE}{path}"


def authorize_url() -> str:
    return f"{settings.WEIBO_AUTHORIZE_BASE}/oauth2/authorize"


def parse_weibo_body(response: requests.Response) -> dict[str, Any]:
    """Parse a Weibo answer whatever its Content-Type (Weibo sends JSON as text/plain).

    Raises WeiboError for an error envelope, or for a body that is not JSON at all (a proxy's
    HTML error page, for instance), keeping the HTTP status for the caller's decision.
    """
    text = response.text.strip()
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        raise WeiboError(
            code=0, message=f"non-JSON answer ({response.status_code})",
            http_status=response.status_code,
        ) from None  # fmt: skip
    if not isinstance(data, dict):
        raise WeiboError(code=0, message="unexpected answer", http_status=response.status_code)
    if "error_code" in data or "error" in data and response.status_code >= 400:
        code = str(data.get("error_code") or "0").strip()
        raise WeiboError(
            code=int(code) if code.isdigit() else 0,
            message=str(data.get("error_description") or data.get("error") or ""),
            http_status=response.status_code,
            request_path=str(data.get("request") or ""),
        )
    if response.status_code >= 400:
        raise WeiboError(code=0, message="HTTP error", http_status=response.status_code)
    return data


def users_show(*, access_token: str, uid: str) -> dict[str, Any]:
    response = requests.get(
        api_url("/2/users/show.json"),
        params={"uid": uid},
        headers={"Authorization": f"OAuth2 {access_token}"},
        timeout=settings.WEIBO_HTTP_TIMEOUT,
    )
    return parse_weibo_body(response)


def revoke_token(*, access_token: str) -> dict[str, Any]:
    response = requests.post(
        api_url("/oauth2/revokeoauth2"),
        data={"access_token": access_token},
        timeout=settings.WEIBO_HTTP_TIMEOUT,
    )
    return parse_weibo_body(response)


def get_token_info(*, access_token: str) -> dict[str, Any]:
    response = requests.post(
        api_url("/oauth2/get_token_info"),
        data={"access_token": access_token},
        timeout=settings.WEIBO_HTTP_TIMEOUT,
    )
    return parse_weibo_body(response)


def statuses_share(
    *,
    access_token: str,
    status: str,
    rip: str,
    pic: bytes | None = None,
    pic_name: str = "card.jpg",
) -> dict[str, Any]:
    """Post to the member's timeline: the one posting API Weibo leaves open to third-party apps.

    Form-encoded without a picture, multipart with one. Raises WeiboError for Weibo's refusals and
    lets ``requests`` exceptions (timeouts, dropped connections) through: the caller must treat
    those as "in doubt", since Weibo may have posted before the answer was lost.
    """
    data = {"status": status, "rip": rip}
    files = {"pic": (pic_name, pic, "image/jpeg")} if pic else None
    response = requests.post(
        api_url("/2/statuses/share.json"),
        data=data,
        files=files,
        headers={"Authorization": f"OAuth2 {access_token}"},
        timeout=(5, settings.WEIBO_HTTP_TIMEOUT),
    )
    return parse_weibo_body(response)


#: statuses/show's answer for a status deleted by its author (or never posted).
STATUS_NOT_FOUND = 20101


def statuses_show(*, access_token: str, status_id: str) -> dict[str, Any]:
    """One status by id. Raises WeiboError with ``STATUS_NOT_FOUND`` once the author deleted it."""
    response = requests.get(
        api_url("/2/statuses/show.json"),
        params={"id": status_id},
        headers={"Authorization": f"OAuth2 {access_token}"},
        timeout=settings.WEIBO_HTTP_TIMEOUT,
    )
    return parse_weibo_body(response)
