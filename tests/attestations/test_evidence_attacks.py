"""A hostile operator's attacks on hardware evidence (HARDWARE.md 1, 4, 5), each kept as the test that
showed the hole and now shows it closed."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attestations.models import Challenge, ChipEvidence
from inventory.models import AnyFinding
from protocol import evidence_factory
from protocol.evidence_factory import Vendor, pem
from protocol.hardware import default_roots_folder
from registry.models import Chip, HardwareIdentity
from tests.attestations.evidence_helpers import entry, issued, statement


@pytest.fixture(autouse=True)
def example_vendor_makes_the_chips(settings):
    settings.CHIPREG_IDENTITY_VENDORS = {"nvidia": ["nvidia", "example"]}


def _pin(vendor, tmp_path, settings):
    (tmp_path / "vendor.pem").write_bytes(vendor.root_pem())
    (tmp_path / "nvidia.pem").write_bytes((default_roots_folder() / "nvidia-device-identity-ca.pem").read_bytes())
    settings.CHIPREG_HARDWARE_ROOTS = str(tmp_path)
    return vendor


@pytest.fixture
def pinned(tmp_path, settings):
    return _pin(Vendor(), tmp_path, settings)


@pytest.fixture
def lapsed(tmp_path, settings):
    """A pinned vendor whose provisioning CA expired at the end of 2021."""
    vendor = Vendor()
    vendor.provisioner = evidence_factory._certificate(
        vendor.provisioner.subject,
        vendor.provisioner_key,
        vendor.identity_ca.subject,
        vendor.identity_key,
        True,
        not_after=datetime(2021, 12, 31, tzinfo=UTC),
    )
    return _pin(vendor, tmp_path, settings)


def chip(public_id):
    return Chip.objects.by_public_id(public_id).get()


# --- observed_at: the reports were fetched after their nonce existed ---------------------------------------


def test_an_expired_chain_is_not_accepted_by_dating_the_reports_back(world, lapsed):
    """The report is over a challenge issued a moment ago, so it was fetched after that moment: an operator
    cannot date it back into the lifetime of a certificate that has expired since (check 2 judges the dates at
    observed_at), nor place and prove its chip at a time the evidence cannot speak for."""
    device = lapsed.device()
    nonce = issued(world.op_a)
    st = statement(nonce, [entry("nvidia:A000001", *device.evidence(nonce))], observed=datetime(2021, 6, 1, tzinfo=UTC))
    response, _ = world.submit(world.op_a, st, world.key_a)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unknown_challenge"
    assert not ChipEvidence.objects.exists() and not HardwareIdentity.objects.exists()
    assert Challenge.objects.get(nonce=nonce).used_at is None
    assert chip("nvidia:A000001").hardware_verified_at is None


def test_reports_dated_before_their_challenge_are_refused(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    created = Challenge.objects.get(nonce=nonce).created_at
    st = statement(nonce, [entry("nvidia:A000001", *device.evidence(nonce))], observed=created - timedelta(hours=1))
    response, _ = world.submit(world.op_a, st, world.key_a)
    assert response.status_code == 400 and response.json()["code"] == "unknown_challenge", response.content
    assert not ChipEvidence.objects.exists()


def test_reports_dated_within_the_clock_skew_of_their_challenge_are_accepted(world, pinned, settings):
    device = pinned.device()
    nonce = issued(world.op_a)
    created = Challenge.objects.get(nonce=nonce).created_at
    skew = timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_FUTURE_S)
    observed = created - skew + timedelta(seconds=5)
    st = statement(nonce, [entry("nvidia:A000001", *device.evidence(nonce))], observed=observed)
    response, _ = world.submit(world.op_a, st, world.key_a)
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"identity_enrolled": 1}


# --- parser robustness: a certificate that does not parse is a parse finding, never a 500 --------------------


def duplicate_extension_certificate():
    """A certificate carrying one extension twice (X.509 forbids it; `cryptography` raises DuplicateExtension,
    no ValueError, when its extensions are read). Unsigned by anyone pinned: check 1 reads it first."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twice")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 1, 1, tzinfo=UTC))
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), False)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.6"), b"\x05\x00"), False)
    )
    der = builder.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)
    # The second extension's OID (06 04 2a 03 04 06) made the first's: the same length, the same DER shape.
    return x509.load_der_x509_certificate(der.replace(bytes.fromhex("06042a030406"), bytes.fromhex("06042a030405")))


def test_a_certificate_with_an_extension_twice_is_a_parse_finding(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    twice = duplicate_extension_certificate()
    report, _ = device.evidence(nonce)
    st = statement(nonce, [entry("nvidia:A000001", report, pem(twice, pinned.root))])
    response, _ = world.submit(world.op_a, st, world.key_a)
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"evidence_invalid": 1}
    row = ChipEvidence.objects.get()
    assert (row.outcome, row.step) == ("evidence_invalid", "parse")


# --- another operator's chip: the speaker's evidence is no evidence of it ------------------------------------


def enrol(world, parties, public_id, identity):
    response = world.api(parties.users["treaty"]).post(
        f"/api/v1/chips/{public_id}/identity/", {"device_identity": identity}
    )
    assert response.status_code == 201, response.content


def findings_of(org):
    return sorted(AnyFinding.objects.filter(organisation__code=org).values_list("kind", flat=True))


def test_a_rivals_chip_named_with_ones_own_gpu_is_not_mismatched(world, pinned, parties):
    """op-a names op-b's chip, whose identity is enrolled, with the evidence of a GPU of its own: the chip did
    not answer, so op-b's chip gets no identity_mismatch and no history row, only the other_operator claim."""
    theirs, mine = pinned.device(), pinned.device()
    enrol(world, parties, "nvidia:B000001", theirs.identity)
    nonce = issued(world.op_a)
    response, _ = world.submit(
        world.op_a, statement(nonce, [entry("nvidia:B000001", *mine.evidence(nonce))]), world.key_a
    )
    assert response.status_code == 201, response.content
    assert findings_of("op-b") == ["other_operator"]
    assert world.op_b.get("/api/v1/chips/nvidia:B000001/evidence/").json()["results"] == []


def test_a_rivals_chip_cannot_be_made_a_clone_of_ones_own(world, pinned, parties):
    """op-a's GPU is enrolled for op-a's chip; op-a names op-b's chip with that GPU's evidence: no
    identity_duplicate on op-b's chip (it would read as a clone of op-a's), and no identity of op-a's GPU in its
    history."""
    mine = pinned.device()
    nonce = issued(world.op_a)
    assert (
        world.submit(world.op_a, statement(nonce, [entry("nvidia:A000001", *mine.evidence(nonce))]), world.key_a)[
            0
        ].status_code
        == 201
    )
    nonce = issued(world.op_a)
    response, _ = world.submit(
        world.op_a, statement(nonce, [entry("nvidia:B000001", *mine.evidence(nonce))]), world.key_a
    )
    assert response.status_code == 201, response.content
    assert findings_of("op-b") == ["other_operator"]
    assert not ChipEvidence.objects.filter(chip_ref="nvidia:B000001").exists()
    # Nor, with no identity enrolled for op-b's chip, a "verified" row naming op-a's GPU (op-b's own GPU would
    # then read as a second identity of its chip).
    other = pinned.device()
    nonce = issued(world.op_a)
    response, _ = world.submit(
        world.op_a, statement(nonce, [entry("nvidia:B000002", *other.evidence(nonce))]), world.key_a
    )
    assert response.status_code == 201, response.content
    assert not ChipEvidence.objects.filter(chip_ref="nvidia:B000002").exists()
    assert not HardwareIdentity.objects.filter(identity=other.identity).exists()


def test_a_rivals_chip_named_with_bad_evidence_is_not_evidence_invalid(world, pinned):
    device = pinned.device()
    nonce = issued(world.op_a)
    report, chain = device.evidence(nonce)
    response, _ = world.submit(
        world.op_a, statement(nonce, [entry("nvidia:B000001", report[:-1] + b"\x00", chain)]), world.key_a
    )
    assert response.status_code == 201, response.content
    assert findings_of("op-b") == ["other_operator"]
    assert not ChipEvidence.objects.exists()


def test_a_rivals_chip_answering_with_its_enrolled_identity_is_recorded(world, pinned, parties):
    """The chip itself answering at op-a's host (its enrolled identity) is a fact about it: its history shows the
    verified evidence, for op-b and the inspectorates to see where it answered; it is not placed or proved."""
    theirs = pinned.device()
    enrol(world, parties, "nvidia:B000001", theirs.identity)
    nonce = issued(world.op_a)
    response, _ = world.submit(
        world.op_a, statement(nonce, [entry("nvidia:B000001", *theirs.evidence(nonce))]), world.key_a
    )
    assert response.status_code == 201, response.content
    assert "other_operator" in findings_of("op-b")
    history = world.op_b.get("/api/v1/chips/nvidia:B000001/evidence/").json()["results"]
    assert [(h["outcome"], h["identity"]) for h in history] == [("verified", theirs.identity)]
    assert chip("nvidia:B000001").hardware_verified_at is None
