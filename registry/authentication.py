"""`Authorization: Bearer <token>` authentication against hashed API tokens."""

from functools import cache

from rest_framework import authentication, exceptions

from core.rawsql import Columns, fetch_one, set_related
from registry.models import Organisation, User
from registry.models.tokens import APIToken, token_digest


@cache
def _token_query():
    """Every request runs this: one hand-written join, not the ORM's select_related (see core.rawsql)."""
    token, user, org = Columns(APIToken, "t"), Columns(User, "u"), Columns(Organisation, "o")
    # Only model metadata is spelled into the text; the digest is a parameter.
    sql = (
        f"SELECT {token.sql}, {user.sql}, {org.sql} FROM {APIToken._meta.db_table} t"  # noqa: S608
        f" JOIN {User._meta.db_table} u ON u.id = t.user_id"
        f" LEFT JOIN {Organisation._meta.db_table} o ON o.id = u.organisation_id"
        " WHERE t.digest = %s"
    )
    return sql, token, user, org


def token_by_digest(digest):
    """The token with this digest, its user and the user's organisation loaded with it; or None."""
    sql, token_cols, user_cols, org_cols = _token_query()
    row = fetch_one(sql, [digest])
    if row is None:
        return None
    token = token_cols.load(row)
    user = user_cols.load(row, token_cols.width)
    set_related(user, "organisation", org_cols.load(row, token_cols.width + user_cols.width))
    set_related(token, "user", user)
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

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
        token.touch()
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
