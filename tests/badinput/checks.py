"""What every answer to bad input must look like, in one place.

Never a 5xx. When the request is refused, the person is told why: an error message on the page
they land on, a refusal page (400/403/404) with its explanation, or a JSON ``message``; in the
member's language (Chinese by default, English when chosen and the catalogue has the sentence).
And a refusal writes nothing.
"""

from __future__ import annotations

import json
import re

import bs4
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from tests.badinput.conftest import footprint

CJK = re.compile(r"[\u4e00-\u9fff]")
LANGUAGES = ("zh-hans", "en")


def reset_rate_limits() -> None:
    """Each generated example starts below the limits (they are tested in tests/security)."""
    redis = cache._cache.get_client(write=True)
    for key in redis.scan_iter(match=f"{settings.REDIS_PREFIX}:*ratelimit:*"):
        redis.delete(key)


def speak(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _json(response) -> dict | None:
    if "json" not in response.get("Content-Type", ""):
        return None
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def messages_of(response, level: str) -> list[str]:
    """Flash messages of ``level`` on the page (site and Wagtail admin markup)."""
    data = _json(response)
    if data is not None:
        if level == "error" and response.status_code >= 400:
            return [str(data.get("message") or data.get("error") or "")]
        return []
    soup = bs4.BeautifulSoup(response.content, "html.parser")
    found = soup.select(f"li.message.{level}, .messages li.{level}, p.message.{level}")
    if level == "error" and response.status_code >= 400 and not found:
        main = soup.select_one("main") or soup
        found = main.select("h1, p")[:2]
    return [" ".join(node.get_text(" ").split()) for node in found if node.get_text().strip()]


def assert_in_language(texts: list[str], language: str) -> None:
    for text in texts:
        if language == "zh-hans":
            assert CJK.search(text), f"error not in Chinese: {text!r}"
            continue
        with translation.override("en"):
            english = translation.gettext(text)
        assert english == text, f"Chinese shown though the catalogue has English: {text!r}"


def assert_sane(response, before: tuple, *, language: str = "zh-hans", silent_ok: bool = False):
    """The contract above, for one answer; ``before`` is ``footprint()`` before the request."""
    assert response.status_code < 500, response.status_code
    after = footprint()
    errors = messages_of(response, "error")
    if errors:
        assert after == before, f"refused ({errors}) but something was written"
        assert_in_language(errors, language)
    elif after == before and not silent_ok:
        answered = _json(response) is not None and response.status_code < 300
        assert answered or messages_of(response, "success"), (
            f"nothing happened and nothing was said: {response.status_code}"
        )
    return errors


NUL_REFUSED = "请求中含有无效字符"


def page_answered(response) -> None:
    """A page for nonsense query parameters; only a NUL character is refused, with the reason
    (``core.middleware.RejectNullCharactersMiddleware``)."""
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert NUL_REFUSED in response.content.decode()
