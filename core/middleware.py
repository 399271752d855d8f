"""Request middleware."""

from django.apps import apps
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import MiddlewareNotUsed, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext as _
from django.views import defaults
from wagtail.models import Page

from core.clientip import client_ip, parse_address
from core.languages import request_language


class DebugPagesForLocalClientsMiddleware:
    """With DEBUG on, Django's technical error pages go to a browser on this machine only.

    A technical 500 page shows local variables, settings and querysets (user names among
    them); a technical 404 lists every URL pattern. ``./run`` turns DEBUG on and listens on
    the loopback interface only (``config.launcher.web_server_argv``); should DEBUG still be on
    where other machines reach the site, they get the plain error pages instead. Outermost,
    so it sees the answer of every other layer. With DEBUG off it takes itself out of the
    chain when the chain is built, so it costs nothing at all.
    """

    MARKER = b"DEBUG = True"  # in both of Django's technical pages (HTML and text)

    def __init__(self, get_response):
        if not settings.DEBUG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code in (404, 500)
            and not response.streaming
            and self.MARKER in response.content
            and not self.is_local(request)
        ):
            if response.status_code == 404:
                return defaults.page_not_found(request, Http404())
            return defaults.server_error(request)
        return response

    @staticmethod
    def is_local(request) -> bool:
        ip = client_ip(request)
        address = parse_address(ip)
        return address is not None and (
            address.is_loopback or ip in getattr(settings, "INTERNAL_IPS", ())
        )


class DefaultLanguageMiddleware:
    """The visitor's chosen language, else the browser's, else Simplified Chinese.

    Django's LocaleMiddleware would also do this, but it reads the session and URL prefixes
    too, and the outsider page cache must key its copies by exactly the same answer
    (``request_language``). A browser set to English gets English on its first visit; a
    Chinese or unknown one gets the club's language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = request_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Accept-Language"])
        translation.deactivate()
        return response


class LazyMessageMiddleware(MessageMiddleware):
    """Django's ``MessageMiddleware``, with the message storage built only when something
    reads or adds a message.

    Django builds it on every request: a cookie signer and a session storage, for requests
    (``/robots.txt``, kept pages) that never look. Storage never looked at has nothing to write
    back either (``BaseStorage.update`` stores only what was read or added), so skipping it
    then changes nothing.
    """

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        storage = request.__dict__.get("_messages")
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response
        return super().process_response(request, response)


class RejectNullCharactersMiddleware:
    """Refuse a request whose query or form carries a NUL character, with a clear 400 page;
    one whose path carries one is not found (404).

    PostgreSQL cannot store NUL in text, so such a value reaching a query raised a 500 from
    whichever view read it (comments, codes, search, shipping details, share tokens, Wagtail's
    admin model names…). No browser sends one; refusing it here keeps every view, present and
    future, from having to care.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            # A path naming something that cannot exist (tokens, slugs, admin model names):
            # not found, before any view or lookup sees it.
            raise Http404
        # A NUL reaches a query only percent-encoded (a raw one is not valid HTTP), so most
        # requests are let through without parsing their query at all.
        query = request.META.get("QUERY_STRING", "")
        if (("%00" in query or "\x00" in query) and self._has_nul(request.GET)) or (
            request.method == "POST" and self._has_nul(request.POST)
        ):
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


def _model_of(view_func):
    """The model a class-based admin view was set up for, if it says (Wagtail's viewsets pass
    it as ``model``, a class or an ``"app_label.Model"`` string)."""
    model = (getattr(view_func, "view_initkwargs", None) or {}).get("model")
    if isinstance(model, str):
        try:
            return apps.get_model(model)
        except (LookupError, ValueError):
            return None
    return model if hasattr(model, "_meta") else None


class AdminPathGuardMiddleware:
    """Not found, before a Wagtail admin view is handed a path value it would crash on.

    Wagtail's admin believes its URL values further than its URL patterns check them: a
    chooser's ``<str:pk>`` goes to an integer primary key as it is (ValueError), revision 0 reads
    as "no revision" and the revert view then uses the missing one, and moving the root page
    asks for a parent it does not have. Each was a 500 for staff (tests/security/
    test_url_fuzz.py). Our own views check their input themselves; this looks at ``admin/``
    routes only, and costs a query only on the page-moving route.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or not match.route.startswith("admin/"):
            return None
        if any(isinstance(value, int) and value <= 0 for value in view_kwargs.values()):
            raise Http404  # ids start at 1
        model = _model_of(view_func)
        pk = view_kwargs.get("pk")
        if model is not None and isinstance(pk, str):
            try:
                model._meta.pk.to_python(pk)
            except ValidationError:
                raise Http404 from None
        moved = view_kwargs.get("page_to_move_id")
        if moved is not None and Page.objects.filter(pk=moved, depth=1).exists():
            raise Http404  # the root page has no parent to be ordered in
        return None
