"""WSGI entry point (gunicorn querybase.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "querybase.settings")

application = get_wsgi_application()
