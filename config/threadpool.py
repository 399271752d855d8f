"""HTTP for the ASGI server: Django's WSGI handler on a fixed pool of threads.

Every view of the site is synchronous. Django's ASGI handler runs each request's sync code in a
thread of that request's own (a per-request thread-sensitive context), so every request opened
a database connection of its own: persistent connections piled up by the hundred under load
("too many clients already"), and without persistence every request paid for a new PostgreSQL
backend. Here a request is read in the event loop, handed once to one of ``threads`` threads
that runs the whole WSGI application (middleware, view, template) and returns the finished
response, which the event loop writes. A process therefore holds at most ``threads`` database
connections for HTTP, each kept for ``DATABASE_CONN_MAX_AGE``; requests beyond the pool wait
in line instead of failing.

One hand-off per request, not one per message: a WSGI-to-ASGI bridge that sends each header
and body chunk from the worker thread back to the loop pays a GIL hand-over each time, which
halved throughput in ``bench.pages``. Only streaming responses (static files, CSV exports) are
pulled chunk by chunk, each chunk one hand-off, so a slow reader never holds a thread.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Request bodies above this are spooled to a temporary file (as Django's ASGI handler does).
BODY_MEMORY_LIMIT = 1024 * 1024
_DONE = object()


def build_environ(scope: dict, body: Any) -> dict:
    """A PEP 3333 environ for an ASGI HTTP scope (paths as UTF-8 bytes decoded as latin-1)."""
    script_name = scope.get("root_path", "").encode("utf-8").decode("latin-1")
    path_info = scope["path"].encode("utf-8").decode("latin-1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server_name, server_port = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"], port = scope["client"][:2]
        environ["REMOTE_PORT"] = str(port)
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            name = f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


class ThreadPoolWSGI:
    """An ASGI application for ``http`` scopes serving ``app`` (WSGI) on ``threads`` threads."""

    def __init__(self, app: Callable, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        body = tempfile.SpooledTemporaryFile(max_size=BODY_MEMORY_LIMIT)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body.seek(0)
            loop = asyncio.get_running_loop()
            environ = build_environ(scope, body)
            status, headers, chunks, stream = await loop.run_in_executor(
                self.executor, self._respond, environ
            )
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if stream is None:
                await send({"type": "http.response.body", "body": b"".join(chunks)})
                return
            try:
                for chunk in chunks:  # anything written through ``write()`` before streaming
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                iterator = iter(stream)
                while True:
                    chunk = await loop.run_in_executor(self.executor, next, iterator, _DONE)
                    if chunk is _DONE:
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                if hasattr(stream, "close"):
                    await loop.run_in_executor(self.executor, stream.close)
        finally:
            body.close()

    def _respond(self, environ: dict) -> tuple[int, list, list[bytes], Iterable | None]:
        """In a pool thread: run the application; return the whole response unless it streams.

        Closing a finished response here fires ``request_finished`` in the thread that served
        the request, where Django closes or keeps that thread's database connection.
        """
        started: list = []
        written: list[bytes] = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            started[:] = [int(status.split(" ", 1)[0]), encoded]
            return written.append

        result = self.app(environ, start_response)
        if getattr(result, "streaming", False):
            return started[0], started[1], written, result
        try:
            chunks = written + list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return started[0], started[1], chunks, None
