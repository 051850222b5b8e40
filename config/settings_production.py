"""Production settings: everything of config.settings, hardened. Passes `manage.py check --deploy`.

Refuses to start without a real SECRET_KEY, and never creates a log key by
itself (a lost key must be an error, not a silent new log).
"""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import REST_FRAMEWORK, env, env_bool, env_int

DEBUG = False
if SECRET_KEY.startswith("chipreg-insecure") or len(SECRET_KEY) < 50:  # noqa: F405
    raise ImproperlyConfigured("Set SECRET_KEY to at least 50 random characters.")
if TOKEN_HASH_KEY.startswith("chipreg-insecure"):  # noqa: F405
    raise ImproperlyConfigured("Set TOKEN_HASH_KEY.")

CHIPREG_LOG_KEY_AUTOCREATE = False
CHIPREG_WEBHOOK_KEY_AUTOCREATE = False
CHIPREG_TIPS_KEY_AUTOCREATE = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

if env("EMAIL_URL"):
    from urllib.parse import urlparse

    _mail = urlparse(env("EMAIL_URL"))
    EMAIL_HOST, EMAIL_PORT = _mail.hostname, _mail.port or 25
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _mail.username or "", _mail.password or ""
    EMAIL_USE_TLS = EMAIL_PORT == 587
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "chipreg@localhost")

REST_FRAMEWORK = {**REST_FRAMEWORK}
os.environ.setdefault("CHIPREG_PRODUCTION", "1")
