"""Infrastructure views."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

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
