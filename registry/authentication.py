"""`Authorization: Bearer <token>` authentication against hashed API tokens."""

from rest_framework import authentication, exceptions

from registry.models.tokens import token_digest
from registry.storage import token_by_digest

__all__ = ["BearerTokenAuthentication", "token_by_digest"]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"
    # False on an instance for routes that must not time a request next to its account (casework's tips).
    record_use = True

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_by_digest(token_digest(plaintext))
        # One message for unknown, revoked and expired tokens: no oracle.
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not self.record_use:
            return token.user, None  # nothing recorded, and no token kept on the request
        token.touch()
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
