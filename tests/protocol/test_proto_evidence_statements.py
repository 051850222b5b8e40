"""The `evidence` statement and the rtt statement's evidence (HARDWARE.md 2 and 6), at the parser."""

import base64
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import statements
from protocol.encoding import jcs
from protocol.errors import ProtocolError

CHALLENGE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
REPORT = base64.b64encode(b"\x11\xe0" + b"\x00" * 60).decode()
CHAIN = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n...").decode()
EVIDENCE = {
    "v": 1,
    "kind": "evidence",
    "issued_at": "2026-11-26T06:00:00Z",
    "nonce": "1" * 64,
    "operator": "op-demo",
    "facility": "US-VA-001",
    "observed_at": "2026-11-26T05:59:00Z",
    "challenge": CHALLENGE,
    "chips": [
        {"chip": "nvidia:1653824019022", "format": "nvidia-spdm-v1", "report": REPORT, "certificates": CHAIN},
        {"chip": "nvidia:1653824019023", "format": "nvidia-spdm-v1", "report": REPORT, "certificates": CHAIN},
    ],
}
RTT = {
    "v": 1,
    "kind": "rtt",
    "landmark": "lm-fra-1",
    "facility": "US-VA-001",
    "chip": "nvidia:1653824019022",
    "issued_at": "2026-11-26T06:00:00Z",
    "measured_at": "2026-11-26T05:59:59Z",
    "rtt_ms": 4.2,
    "nonce": "2" * 64,
    "challenge": CHALLENGE,
    "evidence": {"format": "nvidia-spdm-v1", "report": REPORT, "certificates": CHAIN},
}


def parse(obj):
    return statements.parse_statement(jcs(obj))


def refused(obj, field):
    with pytest.raises(ProtocolError) as caught:
        parse(obj)
    assert caught.value.code == "malformed_statement"
    assert caught.value.detail.startswith(field), caught.value.detail


def test_an_evidence_statement_parses_with_its_bytes():
    s = parse(EVIDENCE)
    assert s.kind == "evidence" and s.challenge == CHALLENGE
    assert s.chip_ids == ["nvidia:1653824019022", "nvidia:1653824019023"]
    assert s.chips[0][1].report == b"\x11\xe0" + b"\x00" * 60
    assert s.chips[0][1].format == "nvidia-spdm-v1"


def test_an_empty_report_is_base64_of_nothing_judged_later():
    """HARDWARE.md 2 refuses a report that is not base64 or too long; "" is base64 (RFC 4648 section 10), so
    the statement parses with no bytes for that chip, and its check 1 (parse) fails as a finding
    (tests/attestations/test_evidence_invalid.py)."""
    s = copy.deepcopy(EVIDENCE)
    s["chips"][0]["report"] = ""
    s["chips"][1]["certificates"] = ""
    parsed = parse(s)
    assert parsed.chips[0][1].report == b"" and parsed.chips[1][1].certificates == b""


def test_an_rtt_statement_carries_its_evidence_or_none():
    s = parse(RTT)
    assert s.challenge == CHALLENGE and s.evidence.report.startswith(b"\x11\xe0")
    bare = {k: v for k, v in RTT.items() if k not in ("challenge", "evidence")}
    assert parse(bare).evidence is None


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda s: s.update(challenge="AB" * 32), "challenge"),
        (lambda s: s.update(challenge="ab" * 16), "challenge"),
        (lambda s: s["chips"][0].update(format="amd-sev-v9"), "chips[0].format"),
        (lambda s: s["chips"][0].update(report="not base64!"), "chips[0].report"),
        (lambda s: s["chips"][0].update(report=None), "chips[0].report"),
        (lambda s: s["chips"][0].update(certificates="A" * 100_000), "chips[0].certificates"),
        (lambda s: s["chips"][0].pop("certificates"), "chips[0]"),
        (lambda s: s["chips"][0].update(extra=1), "chips[0]"),
        (lambda s: s["chips"][1].update(chip="nvidia:1653824019022"), "chips[1].chip"),
        (lambda s: s.update(chips=[]), "chips"),
        (lambda s: s.update(observed_at="2026-11-26T06:00:01Z"), "observed_at"),
        (lambda s: s.update(scope="partial"), "scope"),
    ],
)
def test_evidence_refusals(change, field):
    s = copy.deepcopy(EVIDENCE)
    change(s)
    refused(s, field)


def test_at_most_a_thousand_chips():
    s = copy.deepcopy(EVIDENCE)
    s["chips"] = [dict(EVIDENCE["chips"][0], chip=f"nvidia:{1653824000000 + i}") for i in range(1001)]
    refused(s, "chips")


@pytest.mark.parametrize("drop", ["challenge", "evidence"])
def test_rtt_challenge_and_evidence_go_together(drop):
    refused({k: v for k, v in RTT.items() if k != drop}, "challenge, evidence")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzzed_evidence_statements_raise_only_protocol_errors(data):
    s = copy.deepcopy(EVIDENCE)
    entry = s["chips"][data.draw(st.integers(0, 1))]
    key = data.draw(st.sampled_from(["chip", "format", "report", "certificates"]))
    entry[key] = data.draw(
        st.none()
        | st.integers(-(2**53) + 1, 2**53 - 1)
        | st.text(max_size=30)
        | st.lists(st.integers(0, 9), max_size=2)
    )
    try:
        parse(s)
    except ProtocolError as exc:
        assert exc.code == "malformed_statement"
