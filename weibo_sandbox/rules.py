"""Weibo's content and format rules, as pure functions.

Kept apart from the HTTP layer so each rule can be tested on its own and read in one place.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urlsplit

#: Weibo reports every time in Beijing time.
CST = timezone(timedelta(hours=8))
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEIBO_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"

#: An http(s) URL as Weibo's t.cn shortener sees it: it stops at the first non-ASCII or space.
URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
#: A ``#话题#`` topic, which statuses/share refuses.
TOPIC_RE = re.compile(r"#[^#\s]+#")
#: Every URL counts as a 10-character t.cn link whatever its real length.
URL_WEIGHT = 10
MAX_STATUS_LENGTH = 140


def weibo_time(timestamp: float) -> str:
    """Format like ``Fri Aug 28 00:00:00 +0800 2009`` without depending on the process locale."""
    moment = datetime.fromtimestamp(timestamp, CST)
    return (
        f"{_WEEKDAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} +0800 {moment.year}"
    )


def parse_time(value: str | int | float) -> float:
    """Read an epoch number, a Weibo-format time or an ISO date/datetime (naive = Beijing time)."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = re.fullmatch(
        r"(\w{3}) (\w{3}) (\d{1,2}) (\d\d):(\d\d):(\d\d) ([+-]\d{4}) (\d{4})", text
    )
    if match:
        _, month, day, hour, minute, second, offset, year = match.groups()
        if month not in _MONTHS:
            raise ValueError(f"unknown month in {text!r}")
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        moment = datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second),
            tzinfo=tz,
        )  # fmt: skip
        return moment.timestamp()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=CST).timestamp()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return moment.timestamp()


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(CST).isoformat(timespec="seconds")


def text_length(text: str) -> int:
    """Weibo's length: non-ASCII characters 1, ASCII 0.5, each URL 10, rounded up."""
    halves = 0
    rest = URL_RE.sub("", text)
    halves += 2 * URL_WEIGHT * len(URL_RE.findall(text))
    for char in rest:
        halves += 1 if ord(char) < 128 else 2
    return math.ceil(halves / 2)


def has_topic(text: str) -> bool:
    # URLs are taken out first so that a fragment such as ``#top`` cannot pair with a later ``#``.
    return TOPIC_RE.search(URL_RE.sub(" ", text)) is not None


def _split_host_port(value: str) -> tuple[str, int | None]:
    host, sep, port = value.strip().lower().rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        return host, int(port)
    return value.strip().lower(), None


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def url_on_domain(url: str, safe_domain: str) -> bool:
    """True when the URL's host is the safe domain or one of its subdomains.

    A safe domain given with a port also pins the port; without one any port is fine.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    domain, domain_port = _split_host_port(safe_domain)
    if not host or not domain:
        return False
    if host != domain and not host.endswith("." + domain):
        return False
    return domain_port is None or domain_port == port


def mentions_safe_domain(text: str, safe_domain: str) -> bool:
    return any(url_on_domain(url, safe_domain) for url in URL_RE.findall(text))


def redirect_uri_allowed(sent: str | None, registered: Iterable[str]) -> bool:
    """Weibo's callback check: same scheme, host and port, and the registered path as a prefix."""
    if not sent:
        return False
    try:
        got = urlsplit(sent)
        got_port = got.port or _default_port(got.scheme)
    except ValueError:
        return False
    if got.scheme.lower() not in ("http", "https") or not got.hostname:
        return False
    for uri in registered:
        try:
            want = urlsplit(uri)
            want_port = want.port or _default_port(want.scheme)
        except ValueError:
            continue
        if (
            got.scheme.lower() == want.scheme.lower()
            and got.hostname == (want.hostname or "").lower()
            and got_port == want_port
            and (got.path or "/").startswith(want.path or "/")
        ):
            return True
    return False


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """Content type and extension from magic bytes; Weibo ignores the declared type."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gif"
    return None


def valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True
