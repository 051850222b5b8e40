"""Password guessing is throttled per account and per address, on every login form.

Before: 40 wrong passwords on /login/, then the right one, and the attacker was in.
Now: after CHIPREG_LOGIN_FAILURES_PER_USER (10) failures for an account, or
CHIPREG_LOGIN_FAILURES_PER_ADDRESS (50) from an address, in 15 minutes, sign-in
is refused, the right password included, with a message that says why.

Each test uses its own account names and client address (Redis is shared with
other test runs) and clears its counters afterwards.
"""

import uuid

import pytest
from django.test import Client

from core.login_throttle import _counters, _idents
from tests.factories import UserFactory

PASSWORD = "right-password-123"


@pytest.fixture
def address():
    """A client address of this test only (TEST-NET-3, a random last two octets)."""
    n = uuid.uuid4().int
    return f"203.0.{n % 250 + 1}.{(n >> 8) % 250 + 1}"


@pytest.fixture
def cleanup():
    idents = []
    yield idents
    per_user, per_address = _counters()
    for username, addr in idents:
        account, _ = _idents(None, username)
        per_user.clear(account)
        per_address.clear(addr)


def _user(db, **extra):
    name = f"victim-{uuid.uuid4().hex[:12]}"
    return UserFactory(username=name, password=PASSWORD, **extra)


def _login(client, url, username, password, address):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def _signed_in(client):
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_forty_wrong_passwords_then_the_right_one_is_refused(db, url, address, cleanup):
    user = _user(db, is_staff=True)
    cleanup.append((user.username, address))
    client = Client()
    for i in range(40):
        _login(client, url, user.username, f"guess-{i}", address)
    response = _login(client, url, user.username, PASSWORD, address)
    assert response.status_code == 200  # the form again, not a redirect into the site
    assert not _signed_in(client)
    assert b"Too many failed sign-ins" in response.content


def test_the_account_limit_holds_from_any_address(db, cleanup):
    user = _user(db)
    client = Client()
    for i in range(10):
        addr = f"198.51.100.{i + 1}"
        cleanup.append((user.username, addr))
        _login(client, "/login/", user.username, "wrong", addr)
    cleanup.append((user.username, "198.51.100.200"))
    response = _login(client, "/login/", user.username, PASSWORD, "198.51.100.200")
    assert not _signed_in(client)
    assert b"Too many failed sign-ins" in response.content


def test_the_address_limit_holds_across_accounts(db, address, cleanup):
    """Spraying one password over many accounts from one address is stopped too."""
    client = Client()
    for _ in range(50):
        name = f"spray-{uuid.uuid4().hex[:10]}"
        cleanup.append((name, address))
        _login(client, "/login/", name, "Summer2026!", address)
    user = _user(db)
    cleanup.append((user.username, address))
    response = _login(client, "/login/", user.username, PASSWORD, address)
    assert not _signed_in(client)
    assert b"Too many failed sign-ins" in response.content
    # From another address the account itself is not locked.
    other = "192.0.2.77"
    cleanup.append((user.username, other))
    assert _login(Client(), "/login/", user.username, PASSWORD, other).status_code == 302


def test_the_address_limit_counts_an_ipv6_host_by_its_64(db, cleanup):
    """Spraying from a fresh address of one /64 each time is one address's spraying: 2**64 addresses are one host's."""
    n = uuid.uuid4().int
    network = f"2001:db8:{n % 65000:x}:{(n >> 16) % 65000:x}"
    client = Client()
    for i in range(50):
        name = f"spray-{uuid.uuid4().hex[:10]}"
        cleanup.append((name, f"{network}::/64"))
        _login(client, "/login/", name, "Summer2026!", f"{network}::{i + 1:x}")
    user = _user(db)
    response = _login(client, "/login/", user.username, PASSWORD, f"{network}::beef")
    cleanup.append((user.username, f"{network}::/64"))
    assert not _signed_in(client)
    assert b"Too many failed sign-ins" in response.content


def test_a_few_mistakes_do_not_lock_and_success_clears_the_account_count(db, address, cleanup):
    user = _user(db)
    cleanup.append((user.username, address))
    for _ in range(9):
        _login(Client(), "/login/", user.username, "typo", address)
    client = Client()
    assert _login(client, "/login/", user.username, PASSWORD, address).status_code == 302
    assert _signed_in(client)
    per_user, _ = _counters()
    assert per_user.count(_idents(None, user.username)[0]) == 0
    # The wrong-password message stays the usual one below the limit.
    response = _login(Client(), "/login/", user.username, "typo", address)
    assert b"Too many failed sign-ins" not in response.content


def test_the_limit_is_per_account_name_whatever_its_case(db, address, cleanup):
    user = _user(db)
    cleanup.append((user.username, address))
    for i in range(10):
        addr = f"198.18.0.{i + 1}"
        cleanup.append((user.username, addr))
        name = user.username.upper() if i % 2 else user.username
        _login(Client(), "/login/", name, "wrong", addr)
    client = Client()
    _login(client, "/login/", user.username, PASSWORD, address)
    assert not _signed_in(client)
