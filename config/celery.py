"""The Celery application. Apps declare tasks with @shared_task and never import this."""

import os

from celery import Celery

# Their Celery signal handlers: the request id rides in task headers; evaluation tasks are timed.
from core import logging as _request_ids  # noqa: F401
from core import metrics as _metrics  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("chipreg")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
