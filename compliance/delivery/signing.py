"""Standard Webhooks signatures: `v1` (HMAC-SHA256, per subscription) and `v1a` (Ed25519, the registry's).

Both sign `{webhook-id}.{webhook-timestamp}.{body}`. The symmetric secret is
"whsec_" + base64(32 random bytes), shown to the subscriber once; the HMAC key
is the decoded bytes. The asymmetric key is one registry-wide Ed25519 key, so a
receiver can also check a message against the public key it fetched from
GET /api/v1/webhooks/key ("whpk_" + base64(raw 32 bytes)) without having been
handed a secret, and a leaked database does not let anyone forge `v1a`.
"""

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
PUBLIC_KEY_PREFIX = "whpk_"


def new_secret():
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret):
    """The HMAC key: the base64 part of "whsec_…" decoded (as the reference libraries do)."""
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX) :]
    return base64.b64decode(secret + "=" * (-len(secret) % 4))


def signed_content(webhook_id, timestamp, body):
    if isinstance(body, bytes):
        body = body.decode()
    return f"{webhook_id}.{int(timestamp)}.{body}".encode()


def sign_v1(secret, webhook_id, timestamp, body):
    mac = hmac.new(secret_bytes(secret), signed_content(webhook_id, timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sign_v1a(webhook_id, timestamp, body):
    signature = webhook_private_key().sign(signed_content(webhook_id, timestamp, body))
    return "v1a," + base64.b64encode(signature).decode()


def signature_header(secret, webhook_id, timestamp, body):
    """The `webhook-signature` value: space-separated, v1 first (what most libraries check)."""
    parts = []
    if secret:
        parts.append(sign_v1(secret, webhook_id, timestamp, body))
    parts.append(sign_v1a(webhook_id, timestamp, body))
    return " ".join(parts)


def _key_path():
    default = Path(getattr(settings, "VAR_DIR", Path("var"))) / "webhook-key.pem"
    return Path(getattr(settings, "CHIPREG_WEBHOOK_KEY_PATH", default))


def webhook_private_key():
    """The registry's webhook key, created (mode 0600) on first use unless autocreation is off."""
    from transparency.checkpoints import generate_log_key, load_ed25519_key  # one key-file reader and writer

    path = _key_path()
    if not path.exists():
        if not getattr(settings, "CHIPREG_WEBHOOK_KEY_AUTOCREATE", True):
            raise ImproperlyConfigured(f"The webhook signing key {path} does not exist.")
        try:
            generate_log_key(path)
        except FileExistsError:
            pass  # another process created it first
    return load_ed25519_key(str(path))


def public_key_raw():
    return webhook_private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_whpk():
    return PUBLIC_KEY_PREFIX + base64.b64encode(public_key_raw()).decode()
