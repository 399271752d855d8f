"""Request middleware."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _


class DefaultLanguageMiddleware:
    """Simplified Chinese unless the visitor chose another language.

    Django's LocaleMiddleware would follow the browser's Accept-Language; members expect the
    club's language by default, and switch to English explicitly (the choice is kept in the
    language cookie set by ``set_language``).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response


class RejectNullCharactersMiddleware:
    """Refuse a request whose query or form carries a NUL character, with a clear 400 page.

    PostgreSQL cannot store NUL in text, so such a value reaching a query raised a 500 from
    whichever view read it (comments, codes, search, shipping details…). No browser form
    sends one; refusing it here keeps every view, present and future, from having to care.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request.GET) or (request.method == "POST" and self._has_nul(request.POST)):
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _has_nul(data) -> bool:
        return any("\x00" in key or any("\x00" in value for value in values)
                   for key, values in data.lists())  # fmt: skip

    @staticmethod
    def _refuse(request):
        message = _("请求中含有无效字符，请删除后重试。")
        if not request.accepts("text/html"):
            return JsonResponse(
                {"error": "bad_request", "message": message},
                status=400,
                json_dumps_params={"ensure_ascii": False},
            )
        return render(request, "400.html", {"message": message}, status=400)
