"""`assert_log_verifies()`: the whole stored log passes `manage.py verify_log`.

Call it at the end of any test that writes log events (or use the
`log_verifies` fixture, which calls it after the test):

    from tests.transparency.log_check import assert_log_verifies
    ...
    assert_log_verifies()

It runs the real command (every leaf, node, event's data and checkpoint), so a
test fails where a treaty body's audit of the same database would.
"""

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


@pytest.fixture
def log_verifies(db):
    """After the test, the log it left behind verifies (register in a conftest with `from ... import log_verifies`)."""
    yield
    assert_log_verifies()
