"""The console permission matrix: every page and form of console/urls.py × every role,
signed in with a session (client.force_login), from the CONSOLE table in policy.py.

A route of console/urls.py without a row fails the suite, as does a row for a route
that is gone; views that take only POST have a GET row (405) so both methods are decided.
"""

import pytest
from django.test import Client
from django.urls import reverse

from console import urls as console_urls
from tests.authz.policy import CONSOLE, DONE, ROLES, Pending
from tests.authz.test_api_matrix import fingerprint


def console_names():
    return {p.name for p in console_urls.urlpatterns}


def test_every_console_route_has_a_row_and_every_row_a_route():
    names, table = console_names(), {name for name, _ in CONSOLE}
    missing, stale = sorted(names - table), sorted(table - names)
    assert not missing, f"console routes without a row in tests/authz/policy.py CONSOLE: {missing}"
    assert not stale, f"rows in tests/authz/policy.py CONSOLE for routes no longer in console/urls.py: {stale}"
    # Both methods are decided for every route: a page's POST is a form, or the page has none.
    for name in names:
        methods = {m for n, m in CONSOLE if n == name}
        assert "GET" in methods, f"console route {name!r} has no GET row"


def _cells():
    for (name, method), cases in sorted(CONSOLE.items()):
        for case in cases:
            for role in ROLES:
                cell = case.expect[role]
                marks = ()
                if isinstance(cell, Pending):
                    marks = pytest.mark.xfail(reason=f"PENDING {cell.item}", strict=True, raises=AssertionError)
                label = f"{method} {name}{f' [{case.name}]' if case.name else ''} {role}"
                yield pytest.param(name, method, case, role, id=label, marks=marks)


@pytest.mark.parametrize(("name", "method", "case", "role"), list(_cells()))
def test_cell(world, name, method, case, role):
    cell = case.expect[role]
    outcome = cell.outcome if isinstance(cell, Pending) else cell
    client = Client()
    if role != "anon":
        client.force_login(world.users[role])
    url = reverse(f"console:{name}", kwargs=case.params(world, role) if case.params else None)
    query = case.query_fn(world) if case.query_fn else case.query
    if query:
        url += f"?{query}"
    write = method == "POST"
    before = fingerprint(case.tables) if write else None
    if write:
        body = case.body(world, role) if callable(case.body) else case.body
        response = client.post(url, body or {})
    else:
        response = client.get(url)
    status = response.status_code
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert outcome.matches(status), f"{role}: expected {outcome}, got {status}: {content[:300]!r}"
    if role == "anon" and status == 302 and name not in ("logout",):
        assert response["Location"].startswith("/login/"), response["Location"]
    if write and not DONE.matches(status):
        assert fingerprint(case.tables) == before, f"{role}: a refused POST changed {case.tables} or the log"
    if case.hides is not None and role not in case.sees:
        assert case.hides(world).encode() not in content, f"{role} was shown A's {case.hides(world)!r}"
