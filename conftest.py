"""Root conftest: test-only settings that must be in place before any test runs."""

import tempfile
from pathlib import Path


def pytest_configure(config):
    from django.conf import settings

    # Each run signs its log with a fresh key in a temporary folder.
    settings.CHIPREG_LOG_KEY_PATH = Path(tempfile.mkdtemp(prefix="chipreg-test-")) / "log-key.pem"
    settings.CHIPREG_LOG_KEY_AUTOCREATE = True
    # Tests sign checkpoints as soon as they ask; the rate limit has its own test.
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0.0
    # Fast hashing: tests create many users; production keeps PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
