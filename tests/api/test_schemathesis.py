"""Schemathesis against /api/v1/schema/: no 5xx, and no response that breaks the schema.

Generated requests (valid and invalid) go to every operation in-process
(WSGI), authenticated as an operator and as a treaty body in turn; each answer must be a non-5xx that matches the documented schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Django's WSGI handler closes the database connection after each request; the
    test client stops that, and so must we, or the test's transaction goes with it."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(parties):
    from registry.models import APIToken
    from registry.registration import register_chips
    from tests.factories import chip_rows

    register_chips(chip_rows("SCH", 3), parties.users["op_a_admin"])
    return [APIToken.issue(parties.users[name])[1] for name in ("op_a_admin", "treaty")]


@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms(case, tokens):
    from django.db import transaction

    for token in tokens:
        # Each call in a savepoint, rolled back: a value PostgreSQL refuses (a date-time whose offset is
        # beyond +-15:59, say) answers 400 and aborts the test's one transaction, which a server in
        # autocommit never carries into the next request.
        savepoint = transaction.savepoint()
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        finally:
            transaction.savepoint_rollback(savepoint)
