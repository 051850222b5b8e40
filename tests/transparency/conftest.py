import pytest


@pytest.fixture(scope="module")
def restore_catalog(django_db_blocker):
    """Reload the catalog after a module of transactional tests.

    Their teardown flushes every table, the catalog that tests/conftest.py
    loads once per session included; tests that run later expect it.
    """
    yield
    from registry.catalog import load_catalog

    with django_db_blocker.unblock():
        load_catalog()
