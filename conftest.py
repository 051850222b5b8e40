"""Root conftest: test-only settings that must be in place before any test runs."""

import os
import tempfile
from pathlib import Path


def pytest_configure(config):
    from django.conf import settings

    # Each run signs its log with a fresh key in a temporary folder, and its webhooks with another one there
    # (not var/webhook-key.pem, which parallel workers would race to create).
    keys = Path(tempfile.mkdtemp(prefix="chipreg-test-"))
    settings.CHIPREG_LOG_KEY_PATH = keys / "log-key.pem"
    settings.CHIPREG_LOG_KEY_AUTOCREATE = True
    settings.CHIPREG_WEBHOOK_KEY_PATH = keys / "webhook-key.pem"
    # Tests sign checkpoints as soon as they ask; the rate limit has its own test.
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0.0
    # Fast hashing: tests create many users; production keeps PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tips (casework): a fresh treaty body key pair per run, the private key in a file as in production;
    # the suite sends many tips from one address (the limits' own tests set theirs).
    from casework.sealing import new_keypair

    private, public = new_keypair()
    key_file = Path(tempfile.mkdtemp(prefix="chipreg-tips-")) / "tips-private.key"
    key_file.write_text(private + "\n")
    settings.CHIPREG_TIPS_PUBLIC_KEY = public
    settings.CHIPREG_TIPS_PRIVATE_KEY_FILE = str(key_file)
    settings.CHIPREG_TIP_RATE_PER_ADDRESS = "100000/min"
    settings.CHIPREG_TIP_BYTES_PER_ADDRESS = 1 << 40
    _own_cache_keys_per_xdist_worker(settings)


def _own_cache_keys_per_xdist_worker(settings):
    """Under pytest-xdist each worker is a run of its own: pytest-django gives it its own test database
    (the name's `_gw0` suffix), and this its own cache keys on the shared Redis (rate-limit counters,
    sign-in failures), in this process and in the Celery workers tests start from its environment."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from django.core.cache import caches

    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}_{worker}"
    os.environ["CHIPREG_CACHE_KEY_PREFIX"] = prefix
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    assert caches["default"].key_prefix == prefix, "the cache was opened before its key prefix was set"
