"""Entry point for Celery workers: `celery -A celery_worker worker -Q queries,notifications,maintenance`."""

import django

from querybase.celery import app

django.setup()

__all__ = ["app"]
