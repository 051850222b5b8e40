"""protocol.hardware with certificates an operator damaged or made up (HARDWARE.md 4 check 1): whatever the
bytes, verification raises EvidenceError with a stable code, never another exception (which the registry would
answer 500)."""

import base64
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.evidence_factory import Vendor, pem
from protocol.hardware import ChainCache, EvidenceError, PinnedRoots, verify_evidence
from tests.attestations.test_evidence_attacks import duplicate_extension_certificate

NONCE = "11" * 32
NOW = datetime(2026, 12, 5, tzinfo=UTC)
VENDOR = Vendor()
DEVICE = VENDOR.device()
REPORT, CHAIN = DEVICE.evidence(NONCE)
DERS = [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(CHAIN)]
ROOTS = PinnedRoots([VENDOR.root])


def pem_of(der):
    text = base64.b64encode(der).decode()
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


def fails_as_evidence(chain):
    try:
        verify_evidence(REPORT, chain, NONCE, NOW, ROOTS, ChainCache())
    except EvidenceError as exc:
        assert exc.code in ("evidence_invalid", "evidence_stale") and exc.step
        return exc
    return None


def test_a_certificate_with_an_extension_twice_is_a_parse_failure():
    """X.509 allows an extension once; `cryptography` raises DuplicateExtension (no ValueError) reading them."""
    twice = duplicate_extension_certificate().public_bytes(serialization.Encoding.DER)
    for chain in (pem_of(twice) + pem(VENDOR.root), CHAIN.replace(pem(VENDOR.root), pem_of(twice))):
        error = fails_as_evidence(chain)
        assert error is not None and error.step == "parse" and "DuplicateExtension" in error.reason


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, len(DERS) - 1),
    st.lists(st.tuples(st.sampled_from("rid"), st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_damaged_certificates_fail_only_as_evidence(index, edits):
    der = bytearray(DERS[index])
    for op, at, byte in edits:
        at %= len(der)
        if op == "r":
            der[at] = byte
        elif op == "i":
            der.insert(at, byte)
        else:
            del der[at]
    ders = list(DERS)
    ders[index] = bytes(der)
    fails_as_evidence(b"".join(map(pem_of, ders)))
