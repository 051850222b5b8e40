"""Event data is stored and checked as RFC 8785 exactly: numbers that JCS writes as
21 digits (1e20) or in exponent form (1e21, 1e24, 1.5e-7) never make verify_log cry tamper.

Before: a treaty body declaring a threshold of 1e20 made `verify_log` fail
("the event's stored data is not JCS"): JCS writes the double 1e20 as
`100000000000000000000`, which the verifier read back as a Python int that
`rfc8785` refuses to write.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction

from protocol.encoding import MAX_SAFE_INTEGER, is_jcs, jcs, jcs_loads, jcs_value
from protocol.leaves import event_leaf
from transparency.events import append_event
from transparency.models import LogEventData

from .log_check import assert_log_verifies

EXPONENT_NUMBERS = [1e20, 1e21, 1e24, 1.5e-7, 1e-7, 1.7e308, 5e-324, 123456789012345678901234.0]


def _rule(value, key):
    return {
        "key": key,
        "name": f"Threshold {value!r}",
        "metric": "chip_count",
        "scope": "facility",
        "comparison": "ge",
        "value": value,
        "severity": "high",
        "effective_from": "2025-01-01T00:00:00Z",
    }


@pytest.mark.parametrize("value", [1e20, 1e21, 1e24, 1.5e-7, 2.5e-7])
def test_a_threshold_with_an_exponent_number_leaves_a_log_that_verifies(api, parties, value):
    treaty = api(parties.users["treaty"])
    created = treaty.post("/api/v1/thresholds/", _rule(value, "big"))
    assert created.status_code == 201, created.content
    stored = LogEventData.objects.get(event="threshold.declared", object_id="threshold:big")
    assert jcs_loads(stored.data_jcs)["value"] == value
    assert is_jcs(stored.data_jcs.encode())
    # A new version (PATCH) logs the same way.
    changed = treaty.patch(f"/api/v1/thresholds/{created.json()['id']}/", {"value": value * 10})
    assert changed.status_code == 200, changed.content
    assert_log_verifies()


def test_the_served_event_data_recomputes_to_the_logged_hash(api, parties):
    """A client that reads the entry and recomputes JCS gets the leaf's data_sha256."""
    import hashlib

    treaty = api(parties.users["treaty"])
    assert treaty.post("/api/v1/thresholds/", _rule(1e20, "served")).status_code == 201
    index = LogEventData.objects.get(object_id="threshold:served").index
    body = treaty.get(f"/api/v1/log/entries/{index}")
    assert body.status_code == 200, body.content
    data = jcs_loads(json.dumps(body.json()["data"]))
    import base64

    leaf = json.loads(base64.b64decode(body.json()["leaf"]))
    assert hashlib.sha256(jcs(data)).hexdigest() == leaf["data_sha256"]


@pytest.mark.django_db
def test_event_data_of_every_number_form_verifies():
    data = {"numbers": EXPONENT_NUMBERS, "int": 10**20, "safe": MAX_SAFE_INTEGER, "neg": -(2**60), "zero": -0.0}
    with transaction.atomic():
        append_event("chip.status_changed", "nvidia:JCS1", data)
    raw = LogEventData.objects.get(object_id="nvidia:JCS1").data_jcs.encode()
    assert b"1e+21" in raw and b"1.5e-7" in raw and b"100000000000000000000" in raw
    assert is_jcs(raw)
    assert_log_verifies()


def test_integers_a_double_cannot_hold_are_refused_not_rounded():
    with pytest.raises(ValueError, match="not exact"):
        event_leaf("2025-01-01T00:00:00Z", "chip.status_changed", "x", {"n": 2**53 + 1})
    with pytest.raises(ValueError):
        jcs_value({"n": float("nan")})
    assert jcs_value({"n": 2**53, "t": (1, 2)}) == {"n": float(2**53), "t": [1, 2]}


@pytest.mark.parametrize(
    "raw",
    [b"1E21", b"1e21", b"1.0", b"100000000000000000001", b'{"b":1,"a":2}', b'{"a":1,"a":1}', b"01", b" 1", b"NaN"],
)
def test_non_canonical_bytes_are_not_jcs(raw):
    assert not is_jcs(raw)


@pytest.mark.parametrize(
    "value", [*EXPONENT_NUMBERS, 10**20, 2**53, -(2**53), 0.1, 1e-6, 1e-5, 999999999999999900000.0]
)
def test_jcs_round_trips_through_the_verifiers_reader(value):
    raw = jcs(jcs_value({"v": value}))
    assert is_jcs(raw)
    assert jcs(jcs_loads(raw)) == raw


@pytest.mark.django_db
def test_the_demo_database_verifies():
    call_command("load_demo", stdout=io.StringIO())
    assert_log_verifies()
