"""A large body is never read from someone unauthenticated: 401 from the headers alone.

Before: a bulk endpoint's body (limit 256 MiB) was read whole by the body-size
middleware, and only then did DRF answer 401 to the missing or invalid token.
The requests here carry a wsgi.input that fails the test if more than a few
KiB of it are read.
"""

import io

import pytest
from django.test import Client

from tests.factories import UserFactory

BIG = 190 * 1024 * 1024
READ_ALLOWANCE = 4096


class Tripwire(io.RawIOBase):
    """A request body that declares 190 MiB and refuses to be read past a few KiB."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.read_bytes += len(buffer)
        if self.read_bytes > READ_ALLOWANCE:
            raise AssertionError(f"the server read {self.read_bytes} bytes of an unauthenticated body")
        buffer[:] = b"x" * len(buffer)
        return len(buffer)

    def read(self, size=-1):
        if size is None or size < 0:
            size = BIG
        self.read_bytes += size
        if self.read_bytes > READ_ALLOWANCE:
            raise AssertionError(f"the server read {self.read_bytes} bytes of an unauthenticated body")
        return b"x" * size

    def readline(self, size=-1):
        return self.read(min(size if size and size > 0 else 1024, 1024))


def _post(client, path, length=BIG, **headers):
    body = Tripwire()
    response = client.generic(
        "POST", path, b"", content_type="text/csv", CONTENT_LENGTH=str(length), **{"wsgi.input": body}, **headers
    )
    return response, body


@pytest.mark.parametrize("path", ["/api/v1/chips/", "/api/v1/declarations/", "/api/v1/transfers/"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Bearer", "Basic dXNlcjpwdw=="])
def test_an_unauthenticated_bulk_body_is_a_401_unread(db, path, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response, body = _post(Client(), path, **headers)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body.read_bytes <= READ_ALLOWANCE


def test_a_revoked_token_is_no_authentication(api, parties):
    from registry.models import APIToken

    client = api(parties.users["op_a_admin"])
    APIToken.objects.filter(user=parties.users["op_a_admin"]).update(revoked_at="2025-01-01T00:00:00Z")
    response, body = _post(Client(), "/api/v1/chips/", HTTP_AUTHORIZATION=f"Bearer {client.token}")
    assert response.status_code == 401
    assert body.read_bytes <= READ_ALLOWANCE


def test_an_attestation_body_too(db):
    response, body = _post(Client(), "/api/v1/attestations/", length=3 * 1024 * 1024)
    assert response.status_code == 401
    assert body.read_bytes <= READ_ALLOWANCE


def test_a_console_form_too(db):
    response, body = _post(Client(), "/inspections/new/", length=1024 * 1024)
    assert response.status_code == 401
    assert body.read_bytes <= READ_ALLOWANCE


def test_an_authenticated_bulk_body_is_still_read(api, parties):
    """A 3 MiB body with a valid token is read and parsed: a JSON list padded with spaces, of one chip."""
    from tests.factories import chip_rows

    client = api(parties.users["op_a_admin"])
    import json

    body = json.dumps(chip_rows("BIGB", 1)).encode() + b" " * (3 * 1024 * 1024)
    response = client.client.generic("POST", "/api/v1/chips/", body, content_type="application/json")
    assert response.status_code == 201, response.content[:500]
    assert response.json()["created"] == 1


def test_a_small_anonymous_body_gets_the_usual_answer(db):
    response = Client().post("/api/v1/chips/", b"{}", content_type="application/json")
    assert response.status_code == 401


def test_a_signed_in_session_may_send_a_large_form(db):
    user = UserFactory(password="pw-for-tests-123")
    client = Client()
    client.force_login(user)
    response = client.generic(
        "POST", "/api/v1/chips/", b"x" * (100 * 1024), content_type="text/csv", HTTP_X_CSRFTOKEN="none"
    )
    assert response.status_code != 401
