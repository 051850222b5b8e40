"""protocol.hardware against HARDWARE.md section 4: NVIDIA's real H100 evidence, and evidence the verifier
must disbelieve (one byte changed, a root nobody pinned, another nonce, another firmware, an expired or
non-CA certificate), built with throwaway keys in the same layout."""

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import dice, spdm
from protocol.evidence_factory import Vendor, _certificate, _key, _name, pem
from protocol.hardware import (
    ChainCache,
    EvidenceError,
    PinnedRoots,
    default_roots_folder,
    load_chain,
    verify_evidence,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "evidence"
NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def fixture_report():
    return bytes.fromhex((FIXTURES / "hopperAttestationReport.txt").read_text().strip())


def fixture_chain():
    return (FIXTURES / "hopperCertChain.txt").read_bytes()


@pytest.fixture(scope="module")
def nvidia():
    return PinnedRoots.from_folder(default_roots_folder())


@pytest.fixture(scope="module")
def vendor():
    return Vendor()


def failure(*args, **kwargs):
    with pytest.raises(EvidenceError) as caught:
        verify_evidence(*args, **kwargs)
    return caught.value


# --- the real evidence -------------------------------------------------------


def test_nvidias_h100_evidence_verifies_to_the_pinned_root(nvidia):
    result = verify_evidence(fixture_report(), fixture_chain(), NONCE, NOW, nvidia)
    assert result.identity == "nvidia-gh100:41431D480FE5E87274"
    assert result.root_sha256 == "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48"
    assert result.nonce == NONCE
    assert result.driver_version == "550.90.07"
    assert result.blocks == 64
    assert result.fwid.startswith("f5c384aebb579217")
    assert len(result.identity_key_sha256) == 64


def test_the_report_parses_to_the_byte():
    report = spdm.parse_report(fixture_report())
    assert len(report.signed) == 4021 and len(report.signature) == 96
    assert sum(4 + len(b.value) for b in report.blocks) == 3520
    assert sum(4 + len(v) for _, v in report.opaque) == 422
    assert report.opaque_text(spdm.OPAQUE_PROJECT) == "1010"
    assert report.opaque_text(spdm.OPAQUE_PROJECT_SKU) == "0200"
    assert report.opaque_text(spdm.OPAQUE_CHIP_SKU) == "882"


def test_the_fixtures_own_root_is_the_shipped_one():
    shipped = (default_roots_folder() / "nvidia-device-identity-ca.pem").read_bytes()
    assert shipped == (FIXTURES / "verifier_device_root.pem").read_bytes()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_one_byte_changed_anywhere_in_the_report_fails(data):
    report = bytearray(fixture_report())
    at = data.draw(st.integers(0, len(report) - 1))
    report[at] ^= data.draw(st.integers(1, 255))
    roots = PinnedRoots.from_folder(default_roots_folder())
    err = failure(bytes(report), fixture_chain(), NONCE, NOW, roots)
    assert err.step in {"parse", "signature", "freshness"}


@pytest.mark.parametrize("index", range(5))
def test_one_byte_changed_in_any_certificate_fails(nvidia, index):
    certificates = x509.load_pem_x509_certificates(fixture_chain())
    der = bytearray(certificates[index].public_bytes(serialization.Encoding.DER))
    der[len(der) - 20] ^= 0x01  # inside the signature value: still parses, no longer verifies
    body = base64.encodebytes(bytes(der)).decode()
    changed = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()
    chain = b"".join(
        changed if n == index else c.public_bytes(serialization.Encoding.PEM) for n, c in enumerate(certificates)
    )
    err = failure(fixture_report(), chain, NONCE, NOW, nvidia, ChainCache())
    assert err.code == "evidence_invalid" and err.step in {"parse", "chain"}


def test_another_nonce_is_stale_not_invalid(nvidia):
    err = failure(fixture_report(), fixture_chain(), "00" * 32, NOW, nvidia)
    assert (err.code, err.step) == ("evidence_stale", "freshness")


def test_a_chain_to_an_unpinned_root_fails(vendor):
    device = vendor.device()
    report, chain = device.evidence(NONCE)
    err = failure(report, chain, NONCE, NOW, PinnedRoots.from_folder(default_roots_folder()))
    assert err.step == "chain" and "pinned" in err.detail


def test_evidence_of_a_pinned_throwaway_vendor_verifies(vendor):
    device = vendor.device("0123456789ABCDEF01")
    roots = PinnedRoots([vendor.root])
    result = verify_evidence(*device.evidence(NONCE), NONCE, NOW, roots)
    assert result.identity == device.identity == "example-gx100:0123456789ABCDEF01"
    assert result.fwid == device.fwid.hex()


def test_a_chain_without_its_root_verifies_when_the_root_signed_its_last(vendor):
    device = vendor.device()
    _, leaf = device.leaf()
    chain = pem(leaf, device.brom, vendor.provisioner, vendor.identity_ca)
    assert verify_evidence(device.report(NONCE), chain, NONCE, NOW, PinnedRoots([vendor.root])).identity


def test_another_firmware_than_the_leaf_certifies_fails(vendor):
    device = vendor.device()
    report = device.report(NONCE, fwid=b"\x07" * 48)
    err = failure(report, device.chain_pem(), NONCE, NOW, PinnedRoots([vendor.root]))
    assert err.step == "firmware"


def test_a_report_signed_by_another_key_fails(vendor):
    one, other = vendor.device(), vendor.device()
    err = failure(other.report(NONCE), one.chain_pem(), NONCE, NOW, PinnedRoots([vendor.root]))
    assert err.step == "signature"


def test_a_certificate_not_valid_at_observed_at_fails(vendor):
    device = vendor.device()
    report, chain = device.evidence(NONCE)
    err = failure(report, chain, NONCE, datetime(2019, 1, 1, tzinfo=UTC), PinnedRoots([vendor.root]))
    assert err.step == "chain" and "not valid" in err.detail


def test_an_issuer_that_is_not_a_ca_fails(vendor):
    # A leaf issued by another leaf: every signature verifies, but the issuer has no CA flag.
    device = vendor.device()
    leaf_key, leaf = device.leaf()
    under = _certificate(_name("child"), _key(), leaf.subject, leaf_key, None)
    chain = pem(under, leaf, device.brom, vendor.provisioner, vendor.identity_ca, vendor.root)
    err = failure(device.report(NONCE), chain, NONCE, NOW, PinnedRoots([vendor.root]))
    assert err.step == "chain" and "not a CA" in err.detail


def test_a_chain_with_no_provisioned_identity_fails(vendor):
    key = _key()
    leaf = _certificate(_name("leaf"), key, vendor.identity_ca.subject, vendor.identity_key, None)
    chain = pem(leaf, vendor.identity_ca, vendor.root)

    def sign(data):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, utils

        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    report = spdm.build_report(bytes.fromhex(NONCE), [], [], sign)
    err = failure(report, chain, NONCE, NOW, PinnedRoots([vendor.root]))
    assert err.step == "identity"


@pytest.mark.parametrize("organisation, cn", [(" ", "GX100 A01 GSP BROM"), ("Example Vendor", " \t ")])
def test_an_identity_certificate_with_a_blank_organisation_or_name_fails_as_identity(organisation, cn):
    """Words of the O and CN name the identity; a vendor CA that issued blanks gets an identity failure, not
    an exception that escapes the verifier."""
    vendor = Vendor(organisation=organisation)
    device = vendor.device("0123456789ABCDEF01")
    device.brom = _certificate(
        _name(cn, organisation, device.serial), device.key, vendor.provisioner.subject, vendor.provisioner_key, True
    )
    err = failure(*device.evidence(NONCE), NONCE, NOW, PinnedRoots([vendor.root]))
    assert (err.step, err.detail) == ("identity", "identity: the identity certificate's O or CN is blank")


def test_an_evidence_error_quoting_a_nul_is_storable():
    err = EvidenceError("identity", "GX\x00100 lacks serialNumber, O or CN")
    assert "\x00" not in err.detail and "\x00" not in err.reason and "GX\\x00100" in err.reason


def test_a_device_identity_longer_than_the_registry_keeps_fails_as_identity():
    vendor = Vendor(organisation="E", generation="G" * 38)
    device = vendor.device("AB" * 30)  # e-ggg...:ABAB...: 101 characters
    err = failure(*device.evidence(NONCE), NONCE, NOW, PinnedRoots([vendor.root]))
    assert (err.step, err.detail) == ("identity", "identity: the device identity is longer than 100 characters")
    shorter = vendor.device("AB" * 29)  # 99 characters
    assert len(verify_evidence(*shorter.evidence(NONCE), NONCE, NOW, PinnedRoots([vendor.root])).identity) == 99


@pytest.mark.parametrize(
    "chain, detail",
    [(b"", "0 in the chain"), (b"not pem", "0 in the chain"), (b"x" * 70_000, "larger than")],
)
def test_bad_chains_are_parse_failures(chain, detail):
    with pytest.raises(EvidenceError) as caught:
        load_chain(chain)
    assert caught.value.step == "parse" and detail in caught.value.detail


def test_a_pem_block_that_is_no_whole_certificate_is_a_parse_failure(nvidia):
    """The fixture chain followed by an unfinished block, or cut in the middle of its last certificate: the
    certificates are 2 to 8 PEM certificates and nothing else (the reader skipped such a block, and the evidence
    went on to be judged at a later step: a client written from HARDWARE.md met it)."""
    chain = fixture_chain()
    unfinished = chain + b"-----BEGIN CERTIFICATE-----\nMIIDfTCCAwKgAwIBAgIUU8IroV5daAiC\n"
    cut = chain[: chain.rindex(b"-----END CERTIFICATE-----") - 40]
    for broken in (unfinished, cut):
        err = failure(fixture_report(), broken, NONCE, NOW, nvidia)
        assert err.step == "parse", (err.step, err.detail)
    # The chain itself, and with text outside its blocks as PEM allows, still parses.
    assert len(load_chain(chain)) == len(load_chain(b"issuer: the fixture\n" + chain)) >= 2


def test_trailing_and_missing_bytes_are_parse_failures(nvidia):
    assert failure(fixture_report() + b"\x00", fixture_chain(), NONCE, NOW, nvidia).step == "parse"
    assert failure(fixture_report()[:-1], fixture_chain(), NONCE, NOW, nvidia).step == "parse"


def test_an_unknown_format_is_a_parse_failure(nvidia):
    err = failure(fixture_report(), fixture_chain(), NONCE, NOW, nvidia, evidence_format="amd-sev-v9")
    assert err.step == "parse"


def test_verified_links_are_not_verified_again(vendor):
    roots, cache = PinnedRoots([vendor.root]), ChainCache()
    first, second = vendor.device(), vendor.device()
    verify_evidence(*first.evidence(NONCE), NONCE, NOW, roots, cache)
    assert (cache.misses, cache.hits, cache.chain_hits) == (4, 0, 0)
    verify_evidence(*second.evidence(NONCE), NONCE, NOW, roots, cache)
    assert (cache.misses, cache.hits, cache.chain_hits) == (6, 2, 0)  # its leaf and BROM are new; the CAs not
    again = verify_evidence(*first.evidence(NONCE), NONCE, NOW + timedelta(hours=1), roots, cache)
    # Proving itself again costs only the report's signature: the chain's bytes verified before.
    assert (cache.misses, cache.hits, cache.chain_hits) == (6, 2, 1)
    assert again.identity == first.identity and again.fwid == first.fwid.hex()


def _sign_with(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    def sign(data):
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    return sign


def test_a_remembered_chain_is_still_dated_signed_for_and_checked_in_order(vendor):
    roots, cache = PinnedRoots([vendor.root]), ChainCache()
    device, other = vendor.device(), vendor.device()
    chain = device.chain_pem()
    verify_evidence(device.report(NONCE), chain, NONCE, NOW, roots, cache)
    remembered = cache.chain_hits
    late = failure(device.report(NONCE), chain, NONCE, datetime(2019, 1, 1, tzinfo=UTC), roots, cache)
    assert late.step == "chain" and "not valid" in late.detail
    assert failure(other.report(NONCE), chain, NONCE, NOW, roots, cache).step == "signature"
    assert failure(device.report(NONCE), chain, "00" * 32, NOW, roots, cache).step == "freshness"
    assert failure(device.report(NONCE, fwid=b"\x07" * 48), chain, NONCE, NOW, roots, cache).step == "firmware"
    assert cache.chain_hits == remembered + 4  # each of them judged on the remembered chain


def test_a_remembered_chain_is_verified_afresh_against_other_roots(vendor):
    cache = ChainCache()
    device = vendor.device()
    report, chain = device.evidence(NONCE)
    verify_evidence(report, chain, NONCE, NOW, PinnedRoots([vendor.root]), cache)
    err = failure(report, chain, NONCE, NOW, PinnedRoots.from_folder(default_roots_folder()), cache)
    assert err.step == "chain" and "pinned" in err.detail


def test_a_remembered_chains_identity_failure_comes_after_the_reports_checks(vendor):
    key = _key()
    leaf = _certificate(_name("leaf"), key, vendor.identity_ca.subject, vendor.identity_key, None)
    chain, roots, cache = pem(leaf, vendor.identity_ca, vendor.root), PinnedRoots([vendor.root]), ChainCache()
    report = spdm.build_report(bytes.fromhex(NONCE), [], [], _sign_with(key))
    for _ in range(2):  # verified, then remembered: the same steps
        assert failure(report, chain, NONCE, NOW, roots, cache).step == "identity"
        assert failure(report, chain, "00" * 32, NOW, roots, cache).step == "freshness"
    assert cache.chain_hits == 3


def test_a_chain_that_failed_is_not_remembered(vendor):
    cache, device = ChainCache(), vendor.device()
    report, chain = device.evidence(NONCE)
    err = failure(report, chain, NONCE, NOW, PinnedRoots.from_folder(default_roots_folder()), cache)
    assert err.step == "chain"
    assert verify_evidence(report, chain, NONCE, NOW, PinnedRoots([vendor.root]), cache).identity
    assert cache.chain_hits == 0


def test_the_caches_forget_the_least_recently_used_first(vendor):
    roots, cache = PinnedRoots([vendor.root]), ChainCache(chains=2)
    devices = [vendor.device() for _ in range(3)]
    for device in devices:
        verify_evidence(*device.evidence(NONCE), NONCE, NOW, roots, cache)
    verify_evidence(*devices[0].evidence(NONCE), NONCE, NOW, roots, cache)  # forgotten: verified afresh
    verify_evidence(*devices[2].evidence(NONCE), NONCE, NOW, roots, cache)  # remembered
    assert cache.chain_hits == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_reports_raise_only_report_errors(data):
    try:
        spdm.parse_report(data)
    except spdm.ReportError as exc:
        assert exc.code == "evidence_invalid"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_tcb_info_raises_only_value_errors(data):
    try:
        dice.fwids(data)
    except ValueError:
        pass
