"""Template context shared by every page of the site shell."""

from django.conf import settings


def site_shell(request):
    return {
        "SITE_NAME": settings.WAGTAIL_SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "LANGUAGES": settings.LANGUAGES,
    }
