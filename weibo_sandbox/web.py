"""Request and response values shared by the endpoint modules, and Weibo's error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from .config import SandboxConfig
from .multipart import UploadedFile
from .store import Store

JSON_TYPE = "application/json;charset=UTF-8"
TEXT_TYPE = "text/plain;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"


@dataclass
class Sandbox:
    """What every endpoint needs: the app it plays Weibo for and the state."""

    config: SandboxConfig
    store: Store


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    form: dict[str, str]
    files: dict[str, UploadedFile]
    base_url: str

    def param(self, name: str) -> str | None:
        """Weibo reads parameters from the body first, then from the query string."""
        if name in self.form:
            return self.form[name]
        return self.query.get(name)

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Kept for the call log.
    error_code: int | None = None


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON, the way Weibo writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(data: Any, status: int = 200, content_type: str = JSON_TYPE) -> Response:
    return Response(status=status, body=dumps(data), content_type=content_type)


def html_response(html: str, status: int = 200) -> Response:
    return Response(status=status, body=html.encode("utf-8"), content_type=HTML_TYPE)


def redirect(location: str) -> Response:
    return Response(status=302, content_type=HTML_TYPE, headers=[("Location", location)])


def api_error(
    path: str, status: int, code: int, error: str, description: str | None = None
) -> Response:
    """Weibo's envelope; OAuth endpoints also carry ``error_uri`` and ``error_description``."""
    body: dict[str, Any] = {"error": error, "error_code": code, "request": path}
    if path.startswith("/oauth2/"):
        body["error_uri"] = path
        body["error_description"] = description or error
    response = json_response(body, status)
    response.error_code = code
    return response


def missing_parameter(path: str, name: str) -> Response:
    return api_error(path, 400, 10016, f"miss required parameter ({name}), see doc for more info.")


def invalid_parameter(path: str, name: str, expected: str, got: str) -> Response:
    return api_error(
        path,
        400,
        10017,
        f"parameter ({name})'s value invalid,expect ({expected}), but get ({got}), "
        "see doc for more info.",
    )


def method_not_supported(path: str) -> Response:
    return api_error(path, 405, 10021, "HTTP METHOD is not suported for this request!")


def not_found(path: str) -> Response:
    return api_error(path, 404, 10020, "Request Api not found!")
