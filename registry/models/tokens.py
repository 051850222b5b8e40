"""API tokens: shown once, stored only as a keyed hash.

The stored digest is HMAC-SHA256(TOKEN_HASH_KEY, token). Lookup is by digest
(unique index), so verifying a request is one indexed read and the database
never holds anything a thief could present.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.querysets import RestrictedQuerySet
from registry.choices import Role

TOKEN_PREFIX = "crg_"  # noqa: S105 - a public marker, not a secret
# last_used_at is refreshed at most this often, so reads do not become writes.
LAST_USED_RESOLUTION_S = 60


def token_digest(token):
    return hmac.new(settings.TOKEN_HASH_KEY.encode(), token.encode(), hashlib.sha256).hexdigest()


class APITokenQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if user.role == Role.ADMIN:
            # An org admin sees and revokes its people's tokens, never those of
            # the registry's superusers and staff (registry.authority).
            others = self.filter(user__organisation=org, user__is_superuser=False, user__is_staff=False)
            return others | self.filter(user=user)
        return self.filter(user=user)


class APIToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    # The first characters of the token, kept so a person can tell tokens apart.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = APITokenQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user, name="", expires_at=None):
        """Create a token; return (row, plaintext). The plaintext is never stored."""
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(
            user=user, name=name, prefix=plaintext[:12], digest=token_digest(plaintext), expires_at=expires_at
        )
        return row, plaintext

    @property
    def is_active(self):
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self):
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S:
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
