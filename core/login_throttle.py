"""Password guessing is limited per account and per client address.

Every password check goes through `authenticate()` and so through
ThrottledModelBackend (settings.AUTHENTICATION_BACKENDS): the console's
login form, Django admin's, and any later form or API that takes a password.
Failed checks are counted in sliding windows (core.throttling's Redis
counters): at most CHIPREG_LOGIN_FAILURES_PER_USER per account name and
CHIPREG_LOGIN_FAILURES_PER_ADDRESS per client address in
CHIPREG_LOGIN_FAILURE_WINDOW_S. Past either, every attempt is refused before
the password is even looked at, the right one included, until the window has
slid past the failures: otherwise the 41st guess, if right, would still get in.

A success clears the account's count (not the address's: an attacker with an
account of its own could otherwise log in between guesses to reset it).
"""

import hashlib

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError

from core.throttling import FailureCounter, client_address, sender

LOCKED_MESSAGE = (
    "Too many failed sign-ins for this account or from this address. "
    "Sign-in is refused, even with the right password, for up to {minutes} minutes; try again later."
)


def _window_s():
    return int(getattr(settings, "CHIPREG_LOGIN_FAILURE_WINDOW_S", 900))


def _counters():
    window = _window_s()
    return (
        FailureCounter("login-user", getattr(settings, "CHIPREG_LOGIN_FAILURES_PER_USER", 10), window),
        FailureCounter("login-address", getattr(settings, "CHIPREG_LOGIN_FAILURES_PER_ADDRESS", 50), window),
    )


def _idents(request, username):
    # Hashed: a user name is whatever the client typed (spaces, any length); cache keys must be tame.
    account = hashlib.sha256(str(username).casefold().encode("utf-8", "surrogatepass")).hexdigest()
    return account, sender(client_address(request)) if request is not None else "no-request"


def locked_out(request, username):
    """Whether sign-in as `username` from this request's address is refused now."""
    per_user, per_address = _counters()
    account, address = _idents(request, username)
    return per_user.exceeded(account) or per_address.exceeded(address)


def record_failure(request, username):
    per_user, per_address = _counters()
    account, address = _idents(request, username)
    per_user.add(account)
    per_address.add(address)


def record_success(request, username):
    per_user, _ = _counters()
    per_user.clear(_idents(request, username)[0])


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        if locked_out(request, username):
            if request is not None:
                request.chipreg_login_locked = True
            # PermissionDenied stops authenticate() here: no other backend checks the password either.
            raise PermissionDenied("sign-in temporarily refused: too many failures")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(request, username)
        else:
            record_success(request, username)
        return user


class _LockMessageMixin:
    """Say why sign-in is refused when it is the throttle, not the password."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "chipreg_login_locked", False):
                raise ValidationError(
                    LOCKED_MESSAGE.format(minutes=max(1, _window_s() // 60)), code="too_many_failures"
                ) from None
            raise


class ThrottledAuthenticationForm(_LockMessageMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_LockMessageMixin, AdminAuthenticationForm):
    pass
