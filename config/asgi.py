"""ASGI entry point: the whole site on one port. HTTP through Django's WSGI handler on a fixed
pool of ``WEB_THREADS`` threads (``config.threadpool`` says why), websockets through Channels.

A process holds at most ``WEB_THREADS`` database connections for HTTP plus one for the
websocket consumers' lookups (Channels runs those on one thread). docs/operations.md has the
numbers behind this setup.

Websockets accept only same-site origins (``AllowedHostsOriginValidator``) and carry the
Django session, so consumers know the member exactly as a page view would.

Everything loaded at start (Django, Wagtail, the URL configuration and the views it imports:
some 200,000 objects) lives as long as the process, so it is moved out of the garbage
collector's reach (``gc.freeze``). Otherwise every full collection walks it all: 145 ms on
the 2-core reference machine, a stall of the event loop that held up one tier broadcast in
a few (``bench.realtime_broadcast``).
"""

import gc
import os

from config.handlers import wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (consumers do).
django_wsgi_app = wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.threadpool import ThreadPoolWSGI  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ThreadPoolWSGI(django_wsgi_app, threads=settings.WEB_THREADS),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Load what the first request would, then freeze it (see the module docstring).
_ = get_resolver().url_patterns
gc.freeze()
