"""A small ``multipart/form-data`` reader.

The standard library's ``cgi`` module is deprecated and gone in 3.13; statuses/share only needs
named fields and one file part, which this handles, including RFC 2231 ``filename*`` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


class MultipartError(ValueError):
    """The body does not follow the multipart syntax it claims."""


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


_PARAM_RE = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    """Split ``form-data; name="pic"; filename="a.jpg"`` into its value and parameters."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for key, raw in _PARAM_RE.findall(";" + rest):
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        key = key.lower()
        if key.endswith("*"):
            charset, _, encoded = raw.partition("'")
            _, _, encoded = encoded.partition("'")
            params[key[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="replace")
        else:
            params.setdefault(key, raw)
    return main.strip().lower(), params


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Return text fields and file parts; a part with a filename is a file even when empty."""
    _, params = parse_options_header(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError("missing boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2:
        raise MultipartError("no part found")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):
            raise MultipartError("bad delimiter line")
        rest = chunk[line_end + 2 :]
        if rest.startswith(b"\r\n"):
            head, content = b"", rest[2:]
        else:
            head, sep, content = rest.partition(b"\r\n\r\n")
            if not sep:
                raise MultipartError("part without header end")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            if not line.strip():
                continue
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if not colon:
                raise MultipartError("bad part header")
            headers[name.strip().lower()] = value.strip()
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            files[name] = UploadedFile(
                filename=disposition["filename"],
                content_type=headers.get("content-type", "application/octet-stream"),
                data=content,
            )
        else:
            fields[name] = content.decode("utf-8", "replace")
    if not closed:
        raise MultipartError("missing closing delimiter")
    return fields, files
