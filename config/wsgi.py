import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What a worker loads before its first request (Django, every app's models, views and URLs) lives as long
# as the process: frozen out of the cyclic collector's reach, so that a full collection during a request
# walks only the request's own objects (about 6% of a 1,000-chip evidence statement's time went to walking
# the rest). The URLs are loaded here, not on the first request, to be frozen with the rest.
get_resolver().url_patterns  # noqa: B018
gc.collect()
gc.freeze()
