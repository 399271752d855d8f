"""Infrastructure views."""

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import run_checks


@never_cache
def healthz(request):
    """200 when PostgreSQL, Redis (cache) and the Celery broker answer, 503 otherwise."""
    healthy, report = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": report},
        status=200 if healthy else 503,
    )


ROBOTS_TXT = "User-agent: *\nDisallow: /admin/\nDisallow: /members/\nSitemap: /sitemap.xml\n"


def robots_txt(request):
    """Constant text; also the reference view the benchmarks compare pages against."""
    return HttpResponse(ROBOTS_TXT, content_type="text/plain")


@require_GET
@never_cache
def language_switch(request, code: str):
    """Choose the site's language from a plain link, back to the page it was chosen on.

    A link, not a form, so pages outsiders see carry no CSRF token and stay the same for every
    outsider (and cacheable). Changing someone's language from another site is a nuisance at
    most: the choice is one cookie, shown in the header and undone with one click.
    """
    if code not in {language for language, _name in settings.LANGUAGES}:
        raise Http404
    target = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    if request.user.is_authenticated:
        from members.services import member_language_set  # members builds on core

        member_language_set(user=request.user, language=code)
    response = HttpResponseRedirect(target)
    response.set_cookie(  # as Django's own ``set_language`` sets it
        settings.LANGUAGE_COOKIE_NAME, code, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )  # fmt: skip
    return response
