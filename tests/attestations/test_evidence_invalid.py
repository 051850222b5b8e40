"""Evidence the registry must disbelieve, made with throwaway vendors in the fixture's layout
(protocol.evidence_factory): one byte flipped in the report or in any certificate, a root nobody
pinned, a report for another nonce, another firmware. Each is a finding naming the failed check,
never a refusal and never a 500; a hypothesis fuzz of report bytes and chains through the API."""

import base64
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations.models import Challenge, ChipEvidence
from inventory.models import AnyFinding
from protocol.evidence_factory import Vendor, pem
from protocol.hardware import default_roots_folder
from registry.models import Chip, HardwareIdentity
from tests.attestations.evidence_helpers import entry, issued, statement


@pytest.fixture(autouse=True)
def example_vendor_makes_the_chips(settings):
    """The throwaway vendor's identities ("example-gx100:...") stand for the chips' maker's here, as a real maker's
    would once configured (CHIPREG_IDENTITY_VENDORS): an identity of another vendor than the chip's maker is
    identity_mismatch (tests/attestations/test_identity_vendor.py)."""
    settings.CHIPREG_IDENTITY_VENDORS = {"nvidia": ["nvidia", "example"]}


@pytest.fixture(scope="module")
def vendor():
    return Vendor()


@pytest.fixture
def pinned(vendor, tmp_path, settings):
    """The registry pins the throwaway vendor's root beside NVIDIA's."""
    (tmp_path / "vendor.pem").write_bytes(vendor.root_pem())
    (tmp_path / "nvidia.pem").write_bytes((default_roots_folder() / "nvidia-device-identity-ca.pem").read_bytes())
    settings.CHIPREG_HARDWARE_ROOTS = str(tmp_path)
    return vendor


def submit(world, st_):
    response, _ = world.submit(world.op_a, st_, world.key_a)
    assert response.status_code == 201, response.content
    return response.json()


def outcome(ref):
    row = ChipEvidence.objects.get(chip_ref=ref)
    return row.outcome, row.step


def flipped(data, offset):
    data = bytearray(data)
    data[offset] ^= 0x01
    return bytes(data)


def test_good_throwaway_evidence_verifies_when_its_root_is_pinned(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    body = submit(world, statement(nonce, [entry("nvidia:A000003", *device.evidence(nonce))]))
    assert body["flags"] == {"identity_enrolled": 1}
    assert HardwareIdentity.objects.get().identity == device.identity


def test_any_byte_flipped_in_the_report_is_evidence_invalid_naming_the_step(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    report, chain = device.evidence(nonce)
    # A byte of every field: request header and nonce, response header, record, nonce, opaque data, signature.
    offsets = sorted(
        {0, 1, 2, 3, 4, 20, 36, 37, 38, 41, 42, 45, 50, 100, len(report) // 2, len(report) - 200}
        | {len(report) - 98, len(report) - 97, len(report) - 49, len(report) - 1}
    )
    entries = [entry(f"nvidia:FLIPR{n:05d}", flipped(report, off), chain) for n, off in enumerate(offsets)]
    body = submit(world, statement(nonce, entries))
    assert body["flags"]["evidence_invalid"] == len(offsets)
    assert "evidence_stale" not in body["flags"]
    for n, off in enumerate(offsets):
        result, step = outcome(f"nvidia:FLIPR{n:05d}")
        assert result == "evidence_invalid", (off, step)
        assert step in ("parse", "signature"), (off, step)
        finding = AnyFinding.objects.get(kind="evidence_invalid", chip_ref=f"nvidia:FLIPR{n:05d}")
        assert f"evidence_invalid: {step}:" in finding.detail


def test_any_certificate_with_a_byte_flipped_is_evidence_invalid(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    report, chain = device.evidence(nonce)
    certificates = x509.load_pem_x509_certificates(chain)
    entries, cases = [], []
    for i, cert in enumerate(certificates):
        der = cert.public_bytes(serialization.Encoding.DER)
        for off in (len(der) // 3, len(der) // 2, len(der) - 5):  # subject or key, extensions, signature
            bad = flipped(der, off)
            wrapped = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bad) + b"-----END CERTIFICATE-----\n"
            others = [c.public_bytes(serialization.Encoding.PEM) for c in certificates]
            others[i] = wrapped
            ref = f"nvidia:FLIPC{len(entries):05d}"
            entries.append(entry(ref, report, b"".join(others)))
            cases.append((ref, i, off))
    body = submit(world, statement(nonce, entries))
    assert body["flags"]["evidence_invalid"] == len(cases)
    for ref, i, off in cases:
        result, step = outcome(ref)
        assert result == "evidence_invalid", (i, off)
        assert step in ("parse", "chain", "signature", "identity", "firmware"), (i, off, step)


def test_a_chain_to_a_root_nobody_pinned(world):
    device = Vendor().device()
    nonce = issued(world.op_a)
    body = submit(world, statement(nonce, [entry("nvidia:A000003", *device.evidence(nonce))]))
    assert body["flags"] == {"evidence_invalid": 1}
    assert outcome("nvidia:A000003") == ("evidence_invalid", "chain")
    assert Chip.objects.by_public_id("nvidia:A000003").get().hardware_verified_at is None


def test_a_chain_that_stops_short_of_the_root(world, pinned):
    """The leaf and BROM alone: ends at a certificate that is neither pinned nor signed by a pinned root."""
    device = pinned.device()
    nonce = issued(world.op_a)
    leaf = device.leaf()[1]
    body = submit(world, statement(nonce, [entry("nvidia:A000003", device.report(nonce), pem(leaf, device.brom))]))
    assert body["flags"] == {"evidence_invalid": 1}
    assert outcome("nvidia:A000003") == ("evidence_invalid", "chain")


def test_another_nonce_is_evidence_stale(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    body = submit(world, statement(nonce, [entry("nvidia:A000003", *device.evidence("ab" * 32))]))
    assert body["flags"] == {"evidence_stale": 1}
    assert outcome("nvidia:A000003") == ("evidence_stale", "freshness")


def test_another_firmware_is_evidence_invalid(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    report = device.report(nonce, fwid=b"\x07" * 48)
    body = submit(world, statement(nonce, [entry("nvidia:A000003", report, device.chain_pem())]))
    assert body["flags"] == {"evidence_invalid": 1}
    assert outcome("nvidia:A000003") == ("evidence_invalid", "firmware")


def test_a_thousand_chips_in_one_statement(world, pinned):
    """The statement's limit, each chip verified in full (one report signature each; the shared
    intermediates cost one verification per process)."""
    nonce = issued(world.op_a)
    devices = [pinned.device() for _ in range(4)]
    entries = [entry(f"nvidia:K{n:06d}", *devices[n % 4].evidence(nonce)) for n in range(1000)]
    body = submit(world, statement(nonce, entries))
    # Four identities among a thousand (unknown) chips: nothing is enrolled for an unknown chip.
    assert body["chips"] == 1000 and body["flags"] == {"unknown_chip": 1000}
    assert ChipEvidence.objects.filter(outcome="verified").count() == 1000


@pytest.fixture(scope="module")
def fuzz_device(vendor):
    return vendor.device("ABCDEF")  # one leaf: the chain's length is the same in every example


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_reports_and_chains_never_500(world, pinned, fuzz_device, data):
    device = fuzz_device
    nonce = issued(world.op_a)
    report, chain = device.evidence(nonce)
    mode = data.draw(st.sampled_from(["report", "chain", "both", "random"]))
    if mode in ("report", "both"):
        report = _mutate(data, report)
    if mode in ("chain", "both"):
        chain = _mutate(data, chain)
    if mode == "random":
        report = data.draw(st.binary(max_size=300))
        chain = data.draw(st.binary(max_size=300))
    st_ = statement(nonce, [entry("nvidia:FUZZ000001", report or b"\x00", chain or b"\x00")])
    response, _ = world.submit(world.op_a, st_, world.key_a)
    assert response.status_code == 201, response.content


def _mutate(data, blob):
    blob = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(len(blob) - 1, 0)))
        if action == "flip" and blob:
            blob[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[at : at + data.draw(st.integers(1, 64))]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    return bytes(blob)


@pytest.mark.django_db(transaction=True)
def test_two_statements_racing_for_one_challenge(world, pinned):
    """Two concurrent statements with one challenge: exactly one is accepted, the other is 409."""
    device = pinned.device()
    nonce = issued(world.op_a)
    report, chain = device.evidence(nonce)
    bodies = [statement(nonce, [entry(f"nvidia:A00000{n}", report, chain)]) for n in (4, 5)]
    clients = [world.api(world.op_a.user), world.api(world.op_a.user)]
    barrier, answers = threading.Barrier(2), []

    def run(client, body):
        try:
            barrier.wait()
            answers.append(world.submit(client, body, world.key_a)[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(clients, bodies, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [201, 409]
    assert [r.json()["code"] for r in answers if r.status_code == 409] == ["used_challenge"]
    winner = next(r for r in answers if r.status_code == 201).json()["id"]
    assert Challenge.objects.get(nonce=nonce).used_by_id == winner
    assert ChipEvidence.objects.count() == 1


def test_a_chip_answering_with_another_identity_is_identity_mismatch(world, pinned):
    """Enrolled on first use by one device's evidence; another device's evidence for the same chip id."""
    first, second = pinned.device(), pinned.device()
    nonce = issued(world.op_a)
    assert submit(world, statement(nonce, [entry("nvidia:A000003", *first.evidence(nonce))]))["flags"] == {
        "identity_enrolled": 1
    }
    verified_at = Chip.objects.by_public_id("nvidia:A000003").get().hardware_verified_at
    nonce = issued(world.op_a)
    body = submit(world, statement(nonce, [entry("nvidia:A000003", *second.evidence(nonce))]))
    assert body["flags"] == {"identity_mismatch": 1}
    assert HardwareIdentity.objects.get().identity == first.identity  # the enrolled identity stays
    assert Chip.objects.by_public_id("nvidia:A000003").get().hardware_verified_at == verified_at
    assert [r.outcome for r in ChipEvidence.objects.order_by("id")] == ["verified", "identity_mismatch"]


def test_a_detail_quoting_a_chains_tabs_newlines_and_backslashes_is_stored_as_said(world, pinned):
    # Certificates' names are the chain's to choose: the chain check quotes the last one's in its finding's
    # detail, and the evidence row (written by COPY) must keep it character for character.
    stranger = Vendor(organisation="Evil\t\n\\Co \u00e9")
    nonce = issued(world.op_a)
    body = submit(world, statement(nonce, [entry("nvidia:A000004", *stranger.device().evidence(nonce))]))
    assert body["flags"] == {"evidence_invalid": 1}
    row = ChipEvidence.objects.get(chip_ref="nvidia:A000004")
    assert row.step == "chain"
    assert row.detail == (
        "chain: the chain ends at Evil\t\n\\Co \u00e9 Device Identity CA, which is not a pinned root nor signed by one"
    )
    assert row.detail in AnyFinding.objects.get(kind="evidence_invalid").detail


@pytest.mark.parametrize("empty", ["report", "certificates"])
def test_an_empty_report_or_chain_is_evidence_invalid_not_a_refusal(world, pinned, empty):
    """ "" is base64 (of nothing), and HARDWARE.md 2 refuses only a report or chain that is not base64 or too long:
    the statement was refused whole (malformed_statement) and the other chips' good evidence with it. Now the
    empty one fails check 1 (parse), a finding on that chip, and the other chip's evidence verifies."""
    good, bad = pinned.device(), pinned.device()
    nonce = issued(world.op_a)
    report, chain = bad.evidence(nonce)
    entries = [
        entry("nvidia:A000003", *good.evidence(nonce)),
        entry("nvidia:A000004", b"" if empty == "report" else report, b"" if empty == "certificates" else chain),
    ]
    body = submit(world, statement(nonce, entries))
    assert body["flags"] == {"identity_enrolled": 1, "evidence_invalid": 1}
    assert outcome("nvidia:A000003") == ("verified", "")
    assert outcome("nvidia:A000004") == ("evidence_invalid", "parse")
