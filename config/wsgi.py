"""WSGI entry point, for plain HTTP servers; production uses ASGI (``config.asgi``)."""

import os

from config.handlers import wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = wsgi_application()
