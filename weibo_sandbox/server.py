"""HTTP front of the sandbox: routing, fault injection, call log, and the ways to start it.

Built on ``http.server`` so it starts in a fraction of a second and needs nothing beyond the
standard library (Pillow only when an avatar is first drawn).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import control, oauth, rest
from .config import SandboxConfig
from .multipart import MultipartError, parse_multipart, parse_options_header
from .rules import iso_time
from .store import Store
from .web import Request, Response, Sandbox, api_error, method_not_supported, not_found

__all__ = ["SandboxConfig", "SandboxServer", "make_server", "start_in_thread"]

Handler = Callable[[Sandbox, Request], Response]

#: Larger bodies are refused unread; a 5 MB picture plus fields fits easily.
MAX_BODY_BYTES = 12 * 1024 * 1024

ROUTES: dict[str, dict[str, Handler]] = {
    oauth.AUTHORIZE: {"GET": oauth.authorize_get, "POST": oauth.authorize_post},
    oauth.ACCESS_TOKEN: {"POST": oauth.access_token},
    oauth.TOKEN_INFO: {"POST": oauth.get_token_info},
    oauth.REVOKE: {"GET": oauth.revoke, "POST": oauth.revoke},
    rest.USERS_SHOW: {"GET": rest.users_show},
    rest.SHARE: {"POST": rest.share},
    rest.STATUS_SHOW: {"GET": rest.status_show},
    "/_sandbox": {"GET": control.timeline},
    "/_sandbox/": {"GET": control.timeline},
    "/_sandbox/health": {"GET": control.health},
    "/_sandbox/config": {"GET": control.config},
    "/_sandbox/users": {"GET": control.users_get, "POST": control.users_post},
    "/_sandbox/posts": {"GET": control.posts_get},
    "/_sandbox/tokens": {"POST": control.tokens_issue},
    "/_sandbox/tokens/expire": {"POST": control.tokens_expire},
    "/_sandbox/tokens/revoke": {"POST": control.tokens_revoke},
    "/_sandbox/faults": {
        "GET": control.faults_get,
        "POST": control.faults_post,
        "DELETE": control.faults_delete,
    },
    "/_sandbox/calls": {"GET": control.calls_get},
    "/_sandbox/reset": {"POST": control.reset},
}
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/avatars/", {"GET": rest.avatar}),
    ("/pics/", {"GET": rest.picture}),
    ("/_sandbox/posts/", {"GET": control.post_pic, "POST": control.post_delete}),
]
#: Paths kept out of the call log: the control API itself and static-like pictures.
UNLOGGED_PREFIXES = ("/_sandbox", "/avatars/", "/pics/", "/favicon.ico")

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def dispatch(app: Sandbox, req: Request) -> Response:
    methods = ROUTES.get(req.path)
    if methods is None:
        for prefix, candidate in PREFIX_ROUTES:
            if req.path.startswith(prefix):
                methods = candidate
                break
    if methods is None:
        return not_found(req.path)
    handler = methods.get(req.method)
    if handler is None:
        return method_not_supported(req.path)
    return handler(app, req)


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def _logged_params(req: Request) -> dict[str, str]:
    """What the call log shows of a request: secrets masked, long values cut, files summarised."""
    params = {**req.query, **req.form}
    shown = {}
    for key, value in params.items():
        if key == "client_secret":
            value = "***"
        shown[key] = value if len(value) <= 300 else value[:300] + "…"
    for key, upload in req.files.items():
        shown[key] = f"<file {upload.filename} {upload.content_type} {len(upload.data)} bytes>"
    return shown


class _BodyTooLarge(Exception):
    pass


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WeiboSandbox/1.0"
    sys_version = ""
    server: SandboxServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        if self.server.sandbox.config.log_requests:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        if not host:
            return self.server.base_url
        scheme = (self.headers.get("X-Forwarded-Proto") or "http").split(",")[0].strip()
        return f"{scheme}://{host}"

    def _serve(self) -> None:
        app = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path or "/"
        query = _first_values(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self._send(api_error(path, 413, 10018, "Request body length over limit!"))
            return
        except ValueError:
            self.close_connection = True
            self._send(api_error(path, 400, 10008, "param error, see doc for more info."))
            return
        form: dict[str, str] = {}
        files = {}
        content_type, _ = parse_options_header(self.headers.get("Content-Type", ""))
        problem = None
        if content_type == "application/x-www-form-urlencoded":
            text = body.decode("utf-8", "replace")
            form = _first_values(parse_qsl(text, keep_blank_values=True))
        elif content_type == "multipart/form-data":
            try:
                form, files = parse_multipart(body, self.headers["Content-Type"])
            except MultipartError as exc:
                problem = api_error(
                    path, 400, 10008, f"param error, see doc for more info. ({exc})"
                )
        req = Request(
            method=self.command,
            path=path,
            query=query,
            headers=self.headers,
            body=body,
            form=form,
            files=files,
            base_url=self._base_url(),
        )
        logged = not path.startswith(UNLOGGED_PREFIXES)
        fault = None if path.startswith("/_sandbox") else app.store.fault_take(path)
        response = problem
        if fault and fault["mode"] == "slow":
            time.sleep(fault["delay"])
        elif fault and fault["mode"] == "drop":
            if logged:
                self._log_call(req, None, fault)
            self._drop()
            return
        elif fault and fault["mode"] == "error":
            response = api_error(path, fault["http_status"], fault["error_code"], fault["error"])
        elif fault and fault["mode"] == "http":
            status = fault["http_status"]
            reason = self.responses.get(status, ("Error",))[0]
            html = BAD_GATEWAY_HTML.format(status=status, reason=reason)
            response = Response(status, html.encode(), "text/html")
        if response is None:
            try:
                response = dispatch(app, req)
            except Exception:  # the sandbox must answer like Weibo even when it has a bug
                self.log_error("error serving %s", path)
                traceback.print_exc()
                response = api_error(path, 500, 10001, "system error!")
        if logged:
            self._log_call(req, response, fault)
        app.store.flush()
        self._send(response)

    def _log_call(self, req: Request, response: Response | None, fault: dict | None) -> None:
        now = time.time()
        self.server.sandbox.store.call_log(
            {
                "time": iso_time(now),
                "ts": now,
                "method": req.method,
                "path": req.path,
                "status": response.status if response else None,
                "error_code": response.error_code if response else None,
                "fault": fault["mode"] if fault else None,
                "auth": rest.token_from(req)[1],
                "params": _logged_params(req),
            }
        )

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        """Close the connection without a byte of answer, like a proxy that lost its upstream."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server carrying the sandbox state; ``shutdown()`` also frees the port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: SandboxConfig) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = Sandbox(config=config, store=Store(config))
        self._closed = False
        super().__init__(address, SandboxHandler)

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    @property
    def store(self) -> Store:
        return self.sandbox.store

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()

    def server_close(self) -> None:
        if not self._closed:
            self._closed = True
            self.store.flush()
            super().server_close()


def make_server(host: str, port: int, config: SandboxConfig) -> SandboxServer:
    """Bind (port 0 picks a free one) without serving yet; call ``serve_forever()``."""
    return SandboxServer((host, port), config)


def start_in_thread(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[SandboxServer, str]:
    """Serve from a daemon thread; for tests and launchers. ``server.shutdown()`` stops it."""
    server = make_server(host, port, config or SandboxConfig())
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        daemon=True,
        name="weibo-sandbox",
    )
    thread.start()
    return server, server.base_url
