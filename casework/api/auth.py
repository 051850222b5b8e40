"""Authentication for the tip routes: the bearer token as everywhere, but without recording its use.

A token's `last_used_at` moved by a tip would put the time of a tip next to the account that sent it in
the tokens table. Here the token only says who is signing in (sealed into the tip for the treaty body).
The same class as everywhere (one security scheme in the OpenAPI schema), told not to record.
"""

from registry.authentication import BearerTokenAuthentication


def untracked_bearer():
    auth = BearerTokenAuthentication()
    auth.record_use = False
    return auth
