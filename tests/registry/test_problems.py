"""Every error is a problem detail with a stable code, including Django's own 404 and 405."""

import pytest


def check(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"] and "detail" in body


def test_unknown_api_path_is_a_problem(client, db):
    check(client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_unknown_chip(api, parties):
    check(api(parties.users["treaty"]).get("/api/v1/chips/nvidia:NOPE123/"), 404, "not_found")
    check(api(parties.users["treaty"]).get("/api/v1/chips/not-an-id/"), 404, "not_found")


def test_method_not_allowed(api, parties):
    check(api(parties.users["op_a_admin"]).delete("/api/v1/chips/nvidia:ABC123/"), 405, "method_not_allowed")
    check(api(parties.users["op_a_admin"]).put("/api/v1/models/nvidia-h100-sxm5-80gb/", {}), 405, "method_not_allowed")


def test_validation_error_lists_fields(api, parties):
    response = api(parties.users["op_a_admin"]).post("/api/v1/users/", {"role": "emperor"})
    check(response, 400, "invalid")
    assert set(response.json()["errors"]) >= {"username", "role"}


@pytest.mark.parametrize("username", ["\u00c0", "\u0430dmin", "op\u00e9rateur"])
def test_a_username_outside_ascii_is_refused_as_the_schema_says(api, parties, username):
    """The schema's pattern for a username is JSON Schema's `^[\\w.@+-]+$`, ASCII only; the API took any Unicode
    letter (found by schemathesis: "\u00c0" answered 201), so "\u0430dmin" in Cyrillic passed for "admin"."""
    from registry.models import User

    response = api(parties.users["op_a_admin"]).post("/api/v1/users/", {"username": username, "role": "member"})
    check(response, 400, "invalid")
    assert "username" in response.json()["errors"]
    assert not User.objects.filter(username=username).exists()
    ok = api(parties.users["op_a_admin"]).post("/api/v1/users/", {"username": "op.a-2@x_y", "role": "member"})
    assert ok.status_code == 201, ok.content


def test_oversized_ordinary_body(api, parties, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api(parties.users["op_a_admin"]).post("/api/v1/tokens/", {"name": "x" * 200})
    check(response, 413, "payload_too_large")


def test_unauthenticated(client, db):
    check(client.get("/api/v1/chips/"), 401, "not_authenticated")


def test_schema_and_docs(client, db):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/chips/", "/api/v1/models/", "/api/v1/organisations/", "/api/v1/users/", "/api/v1/tokens/"):
        assert path in text
    assert client.get("/api/v1/docs/").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/chips/", "/api/v1/organisations/", "/api/v1/users/"])
def test_garbage_json_everywhere(api, parties, path):
    response = api(parties.users["op_a_admin"]).post(path, b"{garbage", content_type="application/json")
    check(response, 400, "malformed_json")
