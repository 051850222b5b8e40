import os

import pytest

from tests.factories import OrganisationFactory, UserFactory
from tests.schema_check import SchemaCheckedClient


def pytest_collection_modifyitems(config, items):
    """Every test runs on PostgreSQL; tests marked redis need Redis and a worker: skip them, loudly, without it."""
    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="needs Redis (REDIS_URL unset: scripts/services.sh found none)")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Every test database starts with the bundled accelerator catalog."""
    from registry.catalog import load_catalog

    with django_db_blocker.unblock():
        load_catalog()


def _flushes(item):
    """Does this test empty the tables on teardown (transactional tests and live servers)?"""
    marker = item.get_closest_marker("django_db")
    transactional = bool(marker and (marker.kwargs.get("transaction") or (len(marker.args) > 0 and marker.args[0])))
    return transactional or bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.fixture(scope="module", autouse=True)
def _restore_catalog_after_flush(request, django_db_blocker):
    """Transactional tests empty every table on teardown, the session's catalog too: put it back.

    Only after modules that flushed, so a run without a test database never
    touches a real one."""
    yield
    if not any(_flushes(item) for item in request.session.items if item.module is request.module):
        return
    from registry.catalog import load_catalog

    with django_db_blocker.unblock():
        load_catalog()


def _db_fixture(item):
    """The database fixture a test uses ("db" or "transactional_db"), or None when it touches none."""
    names = set(getattr(item, "fixturenames", ()))
    marker = item.get_closest_marker("django_db")
    if {"transactional_db", "live_server"} & names or (marker and _flushes(item)):
        return "transactional_db"
    if "db" in names or marker:
        return "db"
    return None


@pytest.fixture(autouse=True)
def _celery_mode_kept():
    """Every test leaves Celery's mode as it found it: a test that turns eager tasks off (or points the broker
    elsewhere) and does not put them back leaves every later test on its worker relaying its outbox events to a
    broker that is gone, the events left pending with a warning and nothing else (9f8c44d)."""
    from celery import current_app

    from config.celery import app

    def mode():
        return (current_app._get_current_object() is app, app.conf.task_always_eager, app.conf.broker_url)

    before = mode()
    yield
    after = mode()
    assert after == before, f"the test left Celery's (current app, eager, broker) at {after}, not {before}"


@pytest.fixture(autouse=True)
def _log_verifies_after_test(request):
    """After every test that can write to the database, the log it left behind passes `verify_log`.

    A treaty body audits the whole stored log; a write path that stores event
    data the audit cannot check fails here, in the test that wrote it. The
    database fixture is requested from inside this one so that the check runs
    before the test's transaction is rolled back (or its tables flushed). A log
    stored exactly as one that already passed in this process (the same rows, the
    same key) is not audited twice: tests/transparency/log_check.py."""
    fixture = _db_fixture(request.node)
    if fixture is None or request.node.get_closest_marker("log_damaged"):
        yield
        return
    # Requested from here, the settings fixture restores what a test changed (its log key, say)
    # only after the check has run against what the test wrote with.
    request.getfixturevalue("settings")
    request.getfixturevalue(fixture)
    yield
    from transparency.models import LogHead

    if LogHead.objects.exists():
        from tests.transparency.log_check import assert_log_verifies_unless_seen

        assert_log_verifies_unless_seen()


class Api:
    """An API client authenticated with a real bearer token of `user`."""

    def __init__(self, user=None):
        self.user = user
        self.client = SchemaCheckedClient()  # every answer is checked against /api/v1/schema/
        if user is not None:
            from registry.models import APIToken

            _, self.token = APIToken.issue(user)
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(path, data=None, **kwargs):
            if data is not None and "format" not in kwargs and "content_type" not in kwargs:
                kwargs["format"] = "json"
            return method(path, data, **kwargs)

        return call


@pytest.fixture
def api():
    return Api


@pytest.fixture
def catalog(transactional_db):
    """Transactional tests start from flushed tables: put the accelerator catalog back."""
    from registry.catalog import load_catalog

    load_catalog()


@pytest.fixture
def parties(db):
    """One organisation of every kind, and a user of every role where it matters."""
    from registry.models import Organisation

    p = type("Parties", (), {})()
    p.treaty = OrganisationFactory(code="treaty", kind="treaty_body")
    p.insp_us = OrganisationFactory(code="insp-us", kind="inspectorate", country="US", jurisdictions=["US"])
    p.insp_fr = OrganisationFactory(code="insp-fr", kind="inspectorate", country="FR", jurisdictions=["FR"])
    p.op_a = OrganisationFactory(code="op-a", kind="operator", country="US")
    p.op_b = OrganisationFactory(code="op-b", kind="operator", country="DE")
    # Loaded from the catalog with no country: chips a maker registers lie in its home country, which a party
    # of none does not register (registry.registration, no_home_country).
    Organisation.objects.filter(code__in=["nvidia", "amd"]).update(country="US")
    p.nvidia = Organisation.objects.get(code="nvidia")
    p.amd = Organisation.objects.get(code="amd")
    p.users = {
        "treaty": UserFactory(organisation=p.treaty, role="admin"),
        "insp_us": UserFactory(organisation=p.insp_us, role="member"),
        "insp_fr": UserFactory(organisation=p.insp_fr, role="member"),
        "op_a_admin": UserFactory(organisation=p.op_a, role="admin"),
        "op_a_member": UserFactory(organisation=p.op_a, role="member"),
        "op_a_readonly": UserFactory(organisation=p.op_a, role="read-only"),
        "op_b": UserFactory(organisation=p.op_b, role="admin"),
        "nvidia": UserFactory(organisation=p.nvidia, role="member"),
    }
    return p
