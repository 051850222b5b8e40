"""The API permission matrix: every (method, path) of the OpenAPI schema × every role.

The table is tests/authz/policy.py (API); this module walks it against one world per
module (tests/authz/conftest.py) and checks that the table and the schema list the
same routes, so a new endpoint cannot ship without a decided row.
"""

import hashlib

import pytest
from django.apps import apps

from tests.authz.policy import API, LOGGED, OK, ROLES, Pending, Raw
from tests.schema_check import SchemaCheckedClient
from tests.table_digest import table_digest

METHODS = ("get", "post", "put", "patch", "delete")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def schema_routes():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops if m in METHODS}


def test_every_schema_route_has_a_row_and_every_row_a_route():
    routes, table = schema_routes(), set(API)
    missing = sorted(routes - table)
    stale = sorted(table - routes)
    assert not missing, f"routes in the OpenAPI schema without a row in tests/authz/policy.py API: {missing}"
    assert not stale, f"rows in tests/authz/policy.py API for routes no longer in the schema: {stale}"


def test_every_row_decides_every_role():
    for key, cases in API.items():
        assert cases, key
        for case in cases:
            assert set(case.expect) == set(ROLES), key


def _cells():
    for (method, path), cases in sorted(API.items()):
        for case in cases:
            for role in ROLES:
                cell = case.expect[role]
                label = f"{method} {path}{f' [{case.name}]' if case.name else ''} {role}"
                marks = ()
                if isinstance(cell, Pending):
                    marks = pytest.mark.xfail(reason=f"PENDING {cell.item}", strict=True, raises=AssertionError)
                yield pytest.param(method, path, case, role, id=label, marks=marks)


# Bookkeeping that any authenticated request moves (a token's last use), not a change of record.
VOLATILE = {"last_used_at", "last_login"}


def fingerprint(labels, log=True):
    """A digest of every row of these tables, and the log's size: what a refused write must not move."""
    from transparency.models import LogLeaf

    digest = hashlib.sha256(str(LogLeaf.objects.count() if log else "").encode())
    for label in labels:
        digest.update(repr(table_digest(apps.get_model(label), exclude=VOLATILE)).encode())
    return digest.hexdigest()


def log_size():
    from transparency.models import LogLeaf

    return LogLeaf.objects.count()


def client_for(world, role):
    client = SchemaCheckedClient()  # every answer is checked against /api/v1/schema/
    if role != "anon":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[role]}")
    return client


def send(world, role, method, path, case):
    params = case.params(world, role) if case.params else {}
    url = path.format(**params) + (f"?{case.query}" if case.query else "")
    body = case.body(world, role) if callable(case.body) else case.body
    client = client_for(world, role)
    call = getattr(client, method.lower())
    if isinstance(body, Raw):
        return call(url, body.data, content_type=body.content_type)
    if body is None:
        return call(url)
    return call(url, body, format="json")


@pytest.mark.parametrize(("method", "path", "case", "role"), list(_cells()))
def test_cell(world, method, path, case, role):
    cell = case.expect[role]
    outcome = cell.outcome if isinstance(cell, Pending) else cell
    write = method in WRITES
    before = fingerprint(case.tables, log=not case.refusal_logs) if write else None
    size = log_size() if write else None
    response = send(world, role, method, path, case)
    status = response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert outcome.matches(status), f"{role}: expected {outcome}, got {status}: {body[:300]!r}"
    if outcome.problem:
        assert response.json().get("code") == outcome.problem, f"{role}: {body[:300]!r}"
    if write and not OK.matches(status):
        after = fingerprint(case.tables, log=not case.refusal_logs)
        assert after == before, f"{role}: a refused {method} changed {case.tables} or the log"
        if case.refusal_logs:
            from transparency.models import LogEventData

            appended = set(LogEventData.objects.filter(index__gte=size).values_list("event", flat=True))
            assert log_size() - size == len(appended) <= 1, f"{role}: a refused {method} appended {appended}"
            assert appended <= set(case.refusal_logs), f"{role}: a refused {method} appended {appended}"
    if write and OK.matches(status) and (method, path) in LOGGED and case.logged is not False:
        assert log_size() > size, f"{role}: an accepted {method} {path} appended no log event"
    if case.hides is not None and role not in case.sees:
        assert case.hides(world).encode() not in body, f"{role} was shown A's {case.hides(world)!r}"
    if case.check is not None and OK.matches(status):
        assert case.check(world, role, response), f"{role}: the answer or its effect is not allowed"


def _undeclared():
    """(path, method) pairs the schema does not list: each must answer 405, even to the superuser."""
    paths = {}
    for (method, path), cases in API.items():
        paths.setdefault(path, (set(), cases[0]))[0].add(method)
    for path, (methods, case) in sorted(paths.items()):
        for method in sorted(set(WRITES) - methods):
            yield pytest.param(path, method, case, id=f"{method} {path}")


@pytest.mark.parametrize(("path", "method", "case"), list(_undeclared()))
def test_undeclared_method_is_405(world, path, method, case):
    params = case.params(world, "registry_admin") if case.params else {}
    before = fingerprint(case.tables)
    response = getattr(client_for(world, "registry_admin"), method.lower())(path.format(**params), {}, format="json")
    assert response.status_code == 405, (response.status_code, response.content[:300])
    assert fingerprint(case.tables) == before
