"""Statement schema (ATTESTATION.md section 3) and freshness."""

import copy
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import statements
from protocol.encoding import jcs
from protocol.errors import ProtocolError
from tests.protocol.helpers import FAST, load_vector

LOCATION = load_vector("envelope-ed25519.json")["statement"]
USAGE = {
    "v": 1,
    "kind": "usage",
    "operator": "op-demo",
    "facility": "US-VA-001",
    "issued_at": "2026-11-26T06:00:00Z",
    "nonce": "0" * 64,
    "period_start": "2026-11-25T00:00:00Z",
    "period_end": "2026-11-26T00:00:00Z",
    "workload": "training",
    "chips": [
        {"chip": "nvidia:1653824019022", "active_s": 86400, "utilization": 0.97, "energy_j": 5.5e7},
        {"chip": "nvidia:1653824019023", "active_s": 0, "utilization": 0, "energy_j": 0},
    ],
}
RTT = {
    "v": 1,
    "kind": "rtt",
    "landmark": "lm-fra-1",
    "facility": "US-VA-001",
    "chip": "nvidia:1653824019022",
    "issued_at": "2026-11-26T06:00:00Z",
    "measured_at": "2026-11-26T05:59:59.123456789Z",
    "nonce": "ab" * 20,
    "rtt_ms": 71.5,
}


def parse(obj):
    return statements.parse_statement(json.dumps(obj).encode())


def refused(obj, field=None):
    with pytest.raises(ProtocolError) as e:
        parse(obj)
    assert e.value.code == "malformed_statement"
    if field is not None:
        assert e.value.detail.startswith(field), e.value.detail
    return e.value


def edit(base, path, value=..., delete=False):
    obj = copy.deepcopy(base)
    *parents, last = path
    target = obj
    for p in parents:
        target = target[p]
    if delete:
        del target[last]
    else:
        target[last] = value
    return obj


def test_valid_statements():
    loc = parse(LOCATION)
    assert isinstance(loc, statements.LocationStatement)
    assert loc.issued_at == datetime(2026, 11, 26, 6, tzinfo=UTC)
    assert loc.chip_ids == ["nvidia:1653824019022", "nvidia:1653824019023"]
    use = parse(USAGE)
    assert isinstance(use, statements.UsageStatement)
    assert use.chips[0] == ("nvidia:1653824019022", 86400.0, 0.97, 5.5e7)
    assert all(type(x) is float for row in use.chips for x in row[1:])
    assert use.workload == "training" and use.period_seconds == 86400
    assert parse(edit(USAGE, ["workload"], delete=True)).workload is None
    rtt = parse(RTT)
    assert isinstance(rtt, statements.RttStatement)
    assert rtt.measured_at.microsecond == 123456 and rtt.rtt_ms == 71.5
    assert parse(edit(LOCATION, ["scope"], "complete") | {"chips": []}).chips == []


COMMON_BAD = [
    (["v"], True, "v"),
    (["v"], 1.0, "v"),
    (["v"], 2, "v"),
    (["v"], "1", "v"),
    (["kind"], "Location", "kind"),
    (["issued_at"], "2026-11-26T06:00:00+00:00", "issued_at"),
    (["issued_at"], "2026-11-26T06:00:00z", "issued_at"),
    (["issued_at"], "2026-11-26t06:00:00Z", "issued_at"),
    (["issued_at"], "2026-11-26 06:00:00Z", "issued_at"),
    (["issued_at"], "2026-11-26T06:00Z", "issued_at"),
    (["issued_at"], "2026-02-30T06:00:00Z", "issued_at"),
    (["issued_at"], "2026-11-26T24:00:00Z", "issued_at"),
    (["issued_at"], "2026-11-26T23:59:60Z", "issued_at"),
    (["issued_at"], "2026-11-26T06:00:00.Z", "issued_at"),
    (["issued_at"], "2026-11-26T06:00:00.1234567890Z", "issued_at"),
    (["issued_at"], "\u0662026-11-26T06:00:00Z", "issued_at"),
    (["issued_at"], 1790000000, "issued_at"),
    (["nonce"], "A" * 32, "nonce"),
    (["nonce"], "a" * 31, "nonce"),
    (["nonce"], "a" * 65, "nonce"),
    (["nonce"], "g" * 32, "nonce"),
    (["nonce"], None, "nonce"),
    (["unknown"], 1, "unknown"),
]


@pytest.mark.parametrize("base", [LOCATION, USAGE, RTT], ids=["location", "usage", "rtt"])
@pytest.mark.parametrize(("path", "value", "field"), COMMON_BAD)
def test_common_fields_refused(base, path, value, field):
    refused(edit(base, path, value), field)


@pytest.mark.parametrize("base", [LOCATION, USAGE, RTT], ids=["location", "usage", "rtt"])
def test_every_required_member_is_required(base):
    for key in base:
        if key == "workload":
            continue
        refused(edit(base, [key], delete=True), key if key != "kind" else "kind")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["operator"], "", "operator"),
        (["operator"], "op demo", "operator"),
        (["operator"], "-op", "operator"),
        (["operator"], "x" * 65, "operator"),
        (["facility"], 7, "facility"),
        (["observed_at"], "2026-11-26T06:00:00.000001Z", "observed_at"),
        (["scope"], "all", "scope"),
        (["chips"], {}, "chips"),
        (["chips"], [], "chips"),
        (["chips", 1], "nvidia:1653824019023", "chips[1]"),
        (["chips", 1, "chip"], "nvidia:1653824019022", "chips[1].chip"),
        (["chips", 1, "chip"], "nvidia:abc-1", "chips[1].chip"),
        (["chips", 1, "chip"], "NVIDIA:ABC-1", "chips[1].chip"),
        (["chips", 1, "chip"], "nvidia:ABC 1", "chips[1].chip"),
        (["chips", 1, "chip"], 1653824019023, "chips[1].chip"),
        (["chips", 1, "cluster"], None, "chips[1].cluster"),
        (["chips", 1, "cluster"], "", "chips[1].cluster"),
        (["chips", 0, "cluster"], ["c"], "chips[0].cluster"),
        (["chips", 1, "rack"], "r1", "chips[1]"),
        (["chips", 1, "utilization"], 1, "chips[1]"),
    ],
)
def test_location_refusals(path, value, field):
    refused(edit(LOCATION, path, value), field)


def test_location_duplicate_names_both_indices():
    obj = edit(LOCATION, ["chips"], [{"chip": f"amd:SN-{i}"} for i in range(5)] + [{"chip": "amd:SN-2"}])
    err = refused(obj, "chips[5].chip")
    assert "chips[2]" in err.detail


def test_chips_are_listed_once_and_some_unless_a_complete_statement_says_the_facility_is_empty():
    """ATTESTATION.md 3.1 and 3.2: no chip twice, at least one entry, but for a complete location statement."""
    refused(edit(LOCATION, ["chips"], []), "chips")
    refused(edit(USAGE, ["chips"], []), "chips")
    assert statements.parse_statement(json.dumps(edit(LOCATION, ["scope"], "complete") | {"chips": []}).encode())
    twice = edit(USAGE, ["chips"], USAGE["chips"][:1] * 2)
    assert "chips[0]" in refused(twice, "chips[1].chip").detail


def test_location_missing_chip_member():
    refused(edit(LOCATION, ["chips", 0], {"cluster": "c-1"}), "chips[0].chip")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["period_end"], "2026-11-25T00:00:00Z", "period_end"),
        (["period_end"], "2026-11-24T23:59:59Z", "period_end"),
        (["period_start"], "2026-10-25T23:59:59Z", "period_end"),
        (["period_end"], "2026-11-26T06:00:01Z", "period_end"),
        (["workload"], "gaming", "workload"),
        (["workload"], None, "workload"),
        (["chips", 0, "active_s"], 86400.001, "chips[0].active_s"),
        (["chips", 0, "active_s"], -1, "chips[0].active_s"),
        (["chips", 0, "active_s"], True, "chips[0].active_s"),
        (["chips", 0, "active_s"], "1", "chips[0].active_s"),
        (["chips", 1, "utilization"], 1.0000001, "chips[1].utilization"),
        (["chips", 1, "utilization"], -0.1, "chips[1].utilization"),
        (["chips", 1, "utilization"], False, "chips[1].utilization"),
        (["chips", 1, "energy_j"], -1e-9, "chips[1].energy_j"),
        (["chips", 1, "energy_j"], 2**53 + 1, "chips[1].energy_j"),
        (["chips", 1, "energy_j"], None, "chips[1].energy_j"),
        (["chips", 1, "cluster"], "c-1", "chips[1]"),
        (["chips", 1, "chip"], "nvidia:1653824019022", "chips[1].chip"),
        (["chips"], [], "chips"),
    ],
)
def test_usage_refusals(path, value, field):
    refused(edit(USAGE, path, value), field)


def test_usage_missing_chip_member_named():
    refused(edit(USAGE, ["chips", 1, "energy_j"], delete=True), "chips[1].energy_j")


def test_usage_period_bounds_inclusive():
    obj = edit(USAGE, ["period_start"], "2026-10-26T00:00:00Z")  # exactly 31 days
    # Every bound inclusive: the longest period, all of it active, at the most power a chip may report.
    most = int(statements.MAX_CHIP_POWER_W) * 31 * 86400
    obj["chips"] = [{"chip": "nvidia:X01", "active_s": 31 * 86400, "utilization": 1, "energy_j": most}]
    assert parse(obj).chips[0][1] == 31 * 86400 and parse(obj).chips[0][3] == most
    refused(edit(obj, ["chips", 0, "energy_j"], most + 1), "chips[0].energy_j")
    refused(edit(obj, ["period_start"], "2026-10-25T23:59:59.999999Z"), "period_end")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["rtt_ms"], 0, "rtt_ms"),
        (["rtt_ms"], -3.0, "rtt_ms"),
        (["rtt_ms"], True, "rtt_ms"),
        (["rtt_ms"], "5", "rtt_ms"),
        (["chip"], "nvidia:lower", "chip"),
        (["landmark"], "", "landmark"),
        (["measured_at"], "2026-11-26T06:00:00.000001Z", "measured_at"),
        (["operator"], "op-demo", "operator"),
    ],
)
def test_rtt_refusals(path, value, field):
    refused(edit(RTT, path, value), field)


def test_rtt_bound_inclusive():
    """ATTESTATION.md 3.3: a round trip of up to a minute is a measurement; longer is malformed."""
    assert parse(edit(RTT, ["rtt_ms"], 60_000)).rtt_ms == 60_000
    refused(edit(RTT, ["rtt_ms"], 60_000.001), "rtt_ms")


@pytest.mark.parametrize(
    "raw",
    [b'{"v":1,"v":1}', b'{"v":NaN}', b'{"v":1e999}', b"[]", b"\xff", b'{"kind":"rtt","rtt_ms":Infinity}'],
)
def test_strict_json_level_refusals(raw):
    with pytest.raises(ProtocolError) as e:
        statements.parse_statement(raw)
    assert e.value.code == "malformed_statement"


def test_duplicate_member_inside_a_chip():
    raw = jcs(LOCATION).replace(b'"cluster":"c-east-1"', b'"cluster":"c-east-1","cluster":"c-east-2"')
    with pytest.raises(ProtocolError):
        statements.parse_statement(raw)


def test_chip_limit(monkeypatch):
    monkeypatch.setattr(statements, "MAX_CHIPS", 2)
    assert parse(LOCATION)
    refused({**LOCATION, "chips": [*LOCATION["chips"], {"chip": "amd:SN-9"}]}, "chips")


# --- the fast paths agree with the entry-by-entry checks -------------------------------

CHIP_IDS = st.sampled_from(["nvidia:SN-1", "nvidia:SN-2", "amd:X.1_2", "nvidia:sn-1", "x:AB", 5, None, ["a"]])
NUMBERS = st.sampled_from([0, 1, 0.5, 3600, 86400, 86401, -1, 1.5, True, None, "1", 2**53, 2**53 + 1, 1e300])
LOCATION_ENTRY = st.fixed_dictionaries(
    {}, optional={"chip": CHIP_IDS, "cluster": st.sampled_from(["c-1", "c 2", "", None, 3]), "x": st.just(1)}
) | st.sampled_from(["nvidia:SN-1", 1, None])
USAGE_ENTRY = st.fixed_dictionaries(
    {},
    optional={"chip": CHIP_IDS, "active_s": NUMBERS, "utilization": NUMBERS, "energy_j": NUMBERS, "x": st.just(1)},
) | st.sampled_from(["nvidia:SN-1", 1])


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except ProtocolError as e:
        return ("error", e.code, e.detail)


@FAST
@given(st.lists(LOCATION_ENTRY, max_size=6))
def test_location_fast_path_agrees(chips):
    assert _outcome(statements._location_chips, chips) == _outcome(statements._location_chips_checked, chips)


@FAST
@given(st.lists(USAGE_ENTRY, min_size=1, max_size=6))
def test_usage_fast_path_agrees(chips):
    assert _outcome(statements._usage_chips, chips, 86400.0) == _outcome(
        statements._usage_chips_checked, chips, 86400.0
    )


def test_usage_ints_in_range_are_floats():
    chips = [{"chip": "nvidia:SN-1", "active_s": 5, "utilization": 1, "energy_j": 100_000}]
    assert statements._usage_chips(chips, 10.0) == [("nvidia:SN-1", 5.0, 1.0, 100_000.0)]
    # 2**53 J is an integer a double carries exactly, but no chip draws it in 10 s (a statement that could
    # store it would make its facility's totals overflow): both the fast path and the checked loop refuse it.
    with pytest.raises(ProtocolError, match=r"chips\[0\]\.energy_j"):
        statements._usage_chips([{**chips[0], "energy_j": 2**53}], 10.0)


# --- fuzz ---------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
    max_leaves=15,
)


@FAST
@given(st.sampled_from([LOCATION, USAGE, RTT]), st.data())
def test_statement_fuzz_raises_only_protocol_error(base, data):
    obj = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from([*obj.keys(), "extra"]))
        if key == "chips" and isinstance(obj.get("chips"), list) and obj["chips"] and data.draw(st.booleans()):
            entry = obj["chips"][0]
            if isinstance(entry, dict):
                sub = data.draw(st.sampled_from([*entry.keys(), "extra"]))
                entry[sub] = data.draw(JSON_VALUES)
                continue
        obj[key] = data.draw(JSON_VALUES)
    try:
        raw = json.dumps(obj).encode()
    except ValueError:
        return
    try:
        statements.parse_statement(raw)
    except ProtocolError:
        pass


@FAST
@given(st.binary(max_size=200))
def test_statement_fuzz_bytes(raw):
    try:
        statements.parse_statement(raw)
    except ProtocolError:
        pass


# --- scale -----------------------------------------------------------------------------------


def test_large_location_statement_parses_fast():
    n = 100_000
    obj = {**LOCATION, "chips": [{"chip": f"nvidia:{1653824000000 + i}", "cluster": f"c-{i % 40}"} for i in range(n)]}
    raw = json.dumps(obj, separators=(",", ":")).encode()
    started = time.process_time()  # CPU time: a busy CI machine does not make it flaky
    parsed = statements.parse_statement(raw)
    elapsed = time.process_time() - started
    assert len(parsed.chips) == n
    assert elapsed < 2.0, f"{n} chips took {elapsed:.2f}s (a million must parse in seconds)"
    # A duplicate at the end is still found, with both indices.
    obj["chips"].append({"chip": "nvidia:1653824000007"})
    err = refused(obj, f"chips[{n}].chip")
    assert "chips[7]" in err.detail


# --- freshness ----------------------------------------------------------------------------------


def test_check_freshness_bounds_inclusive():
    now = datetime(2026, 11, 26, 6, tzinfo=UTC)
    five, week = timedelta(minutes=5), timedelta(days=7)
    statements.check_freshness(now + five, now, five, week)
    statements.check_freshness(now - week, now, five, week)
    statements.check_freshness(now, now, 300, 7 * 86400)
    with pytest.raises(ProtocolError) as e:
        statements.check_freshness(now + five + timedelta(microseconds=1), now, five, week)
    assert e.value.code == "future_statement" and e.value.status == 400
    with pytest.raises(ProtocolError) as e:
        statements.check_freshness(now - week - timedelta(microseconds=1), now, five, week)
    assert e.value.code == "stale_statement"
    with pytest.raises(ValueError):
        statements.check_freshness(datetime(2026, 1, 1), now, five, week)
