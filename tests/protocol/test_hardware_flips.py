"""Every byte of every certificate, flipped: the verifier answers with its typed error, never another
exception (a damaged public key once escaped as cryptography's UnsupportedAlgorithm)."""

import base64
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from protocol.evidence_factory import Vendor
from protocol.hardware import ChainCache, EvidenceError, PinnedRoots, verify_evidence

NONCE = "11" * 32
NOW = datetime(2026, 12, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def setting():
    vendor = Vendor()
    device = vendor.device()
    report, chain = device.evidence(NONCE)
    return PinnedRoots([vendor.root]), report, x509.load_pem_x509_certificates(chain)


def _pem(der):
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("index", range(5))
def test_each_byte_of_each_certificate_flipped(setting, index):
    roots, report, certificates = setting
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certificates]
    cache = ChainCache()
    assert verify_evidence(report, b"".join(_pem(d) for d in ders), NONCE, NOW, roots, cache).identity
    der = ders[index]
    steps = set()
    for offset in range(len(der)):
        bad = bytearray(der)
        bad[offset] ^= 0x01
        chain = b"".join(_pem(bytes(bad)) if i == index else _pem(d) for i, d in enumerate(ders))
        try:
            verify_evidence(report, chain, NONCE, NOW, roots, cache)
        except EvidenceError as exc:
            assert exc.code == "evidence_invalid", (offset, exc)
            steps.add(exc.step)
        else:
            # A flip the certificate's encoding absorbs (e.g. in an unused bit) must still name the same
            # certificate bytes only if the DER round-trips to other bytes: never accepted as it is.
            pytest.fail(f"certificate {index}, byte {offset} flipped, verified")
    assert steps <= {"parse", "chain", "signature", "firmware", "identity"}
