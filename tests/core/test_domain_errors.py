"""Domain errors (core.errors, protocol's ProtocolError) become problem details in one place: core.problems."""

import pytest

from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.problems import PROBLEM_CONTENT_TYPE, exception_handler
from protocol.errors import ProtocolError


@pytest.mark.parametrize(
    ("exc", "status", "code", "extra"),
    [
        (Forbidden("Only a treaty body registers landmarks."), 403, "forbidden", {}),
        (NotFound("No facility 'X' in your view."), 404, "not_found", {}),
        (Conflict("accepted before", code="replayed_nonce", first_id=7), 409, "replayed_nonce", {"first_id": 7}),
        (DomainError("bad"), 400, "invalid", {}),
        (ProtocolError("unknown_key", "no such key"), 403, "unknown_key", {}),
    ],
)
def test_mapped_by_the_handler(exc, status, code, extra):
    response = exception_handler(exc, {})
    assert response.status_code == status and response.content_type == PROBLEM_CONTENT_TYPE
    assert response.data["code"] == code and response.data["status"] == status
    assert response.data["type"].endswith("/" + code)
    assert {k: response.data[k] for k in extra} == extra


def test_echoed_details_are_storable():
    response = exception_handler(DomainError("nul\x00 and \udcff"), {})
    assert "\x00" not in response.data["detail"]
    response.data["detail"].encode("utf-8")  # no lone surrogate left
