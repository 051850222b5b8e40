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
