"""Authentication for the tip routes: the bearer token as everywhere, but without recording its use.

A token's `last_used_at` moved by a tip would put the time of a tip next to the account that sent it in
the tokens table. Here the token only says who is signing in (sealed into the tip for the treaty body).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions

from registry.authentication import BearerTokenAuthentication, token_by_digest
from registry.models.tokens import token_digest


class UntrackedBearerAuthentication(BearerTokenAuthentication):
    def authenticate(self, request):
        from rest_framework import authentication

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
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, None  # no touch(), and no token kept on the request


class UntrackedBearerScheme(OpenApiAuthenticationExtension):
    target_class = "casework.api.auth.UntrackedBearerAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`manage.py issue_token` or POST /api/v1/tokens/), shown once.",
        }
