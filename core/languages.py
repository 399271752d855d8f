"""Which language a request is answered in."""

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


def request_language(request) -> str:
    """The language a request is answered in: the visitor's choice (the language cookie set by
    the switch in 我的 → 设置 or the footer), else the browser's first language when the club speaks
    it, else Simplified Chinese.

    One function, because the outsider page cache keys its copies by the same answer
    (``core.pagecache``): a page is never kept under a language it was not rendered in.
    """
    supported = {code for code, _name in settings.LANGUAGES}
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen in supported:
        return chosen
    # Only the browser's first choice counts: a proxy in front keys its copies on it too
    # (docs/operations.md), and a reader whose first language the club lacks reads Chinese.
    accepted = parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")[:200])
    if accepted:
        first = accepted[0][0]
        if first.startswith("zh"):
            return settings.LANGUAGE_CODE
        try:
            language = translation.get_supported_language_variant(first)
        except LookupError:
            language = None
        if language in supported:
            return language
    return settings.LANGUAGE_CODE
