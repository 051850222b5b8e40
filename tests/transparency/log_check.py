"""`assert_log_verifies()`: the whole stored log passes `manage.py verify_log`.

Call it at the end of any test that writes log events (or use the
`log_verifies` fixture, which calls it after the test):

    from tests.transparency.log_check import assert_log_verifies
    ...
    assert_log_verifies()

It runs the real command (every leaf, node, event's data and checkpoint), so a
test fails where a treaty body's audit of the same database would.

`assert_log_verifies_unless_seen()` (the suite's check after every test) runs it
too, unless this process saw the command pass on a log stored exactly as this
one: the same rows in every table of the transparency app, the same key line
and the same NODE_LEVEL_MIN, all that the command reads. (The authz matrices
leave one world's log as they found it thousands of times over.)
"""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def assert_log_verifies():
    out = StringIO()
    try:
        call_command("verify_log", stdout=out)
    except CommandError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"verify_log failed: {exc}")
    assert "log verified" in out.getvalue(), out.getvalue()
    return out.getvalue()


# Digests (stored_log_digest) of the logs verify_log passed in this process.
_verified = set()


def stored_log_digest():
    """A digest of all that verify_log reads: every row of every transparency table, the key line it checks
    signatures with (its default, the registry's own) and the lowest stored node level (which tests lower);
    None when there is no key line to read."""
    from django.apps import apps

    from tests.table_digest import table_digest
    from transparency import models
    from transparency.checkpoints import verifier_key_line

    try:
        key_line = verifier_key_line()
    except Exception:  # no key: the command says so itself
        return None
    digest = hashlib.sha256(f"{key_line}\n{models.NODE_LEVEL_MIN}\n".encode())
    for model in sorted(apps.get_app_config("transparency").get_models(), key=lambda m: m._meta.db_table):
        digest.update(f"{model._meta.db_table} {table_digest(model)}".encode())
    return digest.hexdigest()


def assert_log_verifies_unless_seen():
    """assert_log_verifies(), unless it passed in this process on a log stored exactly as this one."""
    digest = stored_log_digest()
    if digest is not None and digest in _verified:
        return
    assert_log_verifies()
    if digest is not None:
        _verified.add(digest)


@pytest.fixture
def log_verifies(db):
    """After the test, the log it left behind verifies (register in a conftest with `from ... import log_verifies`)."""
    yield
    assert_log_verifies()
