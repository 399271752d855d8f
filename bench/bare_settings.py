"""The bare reference for ``bench.pages``: the project's settings with no middleware and one URL.

The same server command and worker count serve this module (``DJANGO_SETTINGS_MODULE``), so
``/robots.txt`` here costs only the server, the ASGI or WSGI adapter and Django's URL
resolver: what the project's middleware stack adds is the difference to the real site's
``/robots.txt`` measured in the same run. The view is the site's own (``bench.bare_urls``).
"""

from config.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_urls"
# allauth refuses to start without its middleware; nothing the bare view does needs it.
INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("allauth")]  # noqa: F405
