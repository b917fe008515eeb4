"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery

# Its signal handlers carry the log context from publisher to worker, in Django's format.
from querybase import task_context  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "querybase.settings")

app = Celery("querybase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
