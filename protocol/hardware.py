"""Verifying one chip's hardware evidence, in the order HARDWARE.md section 4 gives.

    roots = PinnedRoots.from_folder(path)         # vendor roots, pinned by the SHA-256 of their DER
    cache = ChainCache()                          # shared across calls: verified links are not re-verified
    result = verify_evidence(report, pem_chain, challenge, observed_at, roots, cache)

`verify_evidence` returns a VerifiedEvidence (the device identity and what the
report says) or raises EvidenceError whose `step` names the check that failed
(parse, chain, signature, freshness, firmware, identity) and whose `code` is the
finding of section 5 (`evidence_invalid`, or `evidence_stale` for freshness).

Cost: the report's signature is new every time (a new nonce), so it is always
verified. A certificate signature is a fact about two fixed certificates; once
verified, the (child, issuer) pair is remembered by their fingerprints, so the
shared vendor intermediates cost nothing after the first chip and a chip that
proves itself again costs one signature. Validity dates, CA flags and pinning
are checked every time (they depend on `observed_at`, and are cheap).

Pure Python with `cryptography`: the registry and the agent share it.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from protocol import dice, spdm
from protocol.errors import ProtocolError

FORMAT_NVIDIA_SPDM_V1 = "nvidia-spdm-v1"
SERIAL_NUMBER_OID = x509.ObjectIdentifier("2.5.4.5")
TCB_INFO_OID = x509.ObjectIdentifier(dice.TCB_INFO_OID)
MAX_CHAIN_CERTIFICATES = 8
MAX_CHAIN_BYTES = 64 * 1024
# The vendor CA that issues the certificate carrying the device identity (HARDWARE.md 4, check 6).
PROVISIONER_MARK = "Provisioner"

STEPS = ("parse", "chain", "signature", "freshness", "firmware", "identity")


class EvidenceError(ProtocolError):
    """One chip's evidence failed check `step`; `code` is the finding it becomes."""

    def __init__(self, step: str, detail: str):
        code = "evidence_stale" if step == "freshness" else "evidence_invalid"
        super().__init__(code, f"{step}: {detail}")
        self.step = step


@dataclass(frozen=True)
class VerifiedEvidence:
    identity: str  # "<vendor>-<generation>:<SERIAL>", e.g. nvidia-gh100:41431D480FE5E87274
    identity_key_sha256: str  # SHA-256 (hex) of the identity certificate's SubjectPublicKeyInfo
    root_sha256: str  # the pinned root the chain ends at
    leaf_sha256: str
    fwid: str  # hex, "" when the report carries none
    driver_version: str
    nonce: str  # hex: the request's nonce (= the challenge)
    blocks: int


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


class PinnedRoots:
    """Vendor roots pinned by the SHA-256 of their DER."""

    def __init__(self, certificates: list[x509.Certificate]):
        self.by_fingerprint = {fingerprint(c): c for c in certificates}

    @classmethod
    def from_folder(cls, folder: Path | str) -> PinnedRoots:
        """Every certificate in every *.pem file of the folder."""
        certificates = []
        for path in sorted(Path(folder).glob("*.pem")):
            certificates += x509.load_pem_x509_certificates(path.read_bytes())
        return cls(certificates)

    def pinned(self, cert: x509.Certificate) -> bool:
        return fingerprint(cert) in self.by_fingerprint

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The pinned root that signed `cert`, matched by name and then by signature."""
        for root in self.by_fingerprint.values():
            if root.subject == cert.issuer and _signed_by(cert, root):
                return root
        return None


class ChainCache:
    """(child fingerprint, issuer fingerprint) pairs whose signature has verified. Thread-safe; bounded."""

    def __init__(self, limit: int = 100_000):
        self._verified: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.limit = limit
        self.hits = self.misses = 0

    def signed_by(self, child: x509.Certificate, issuer: x509.Certificate) -> bool:
        key = (fingerprint(child), fingerprint(issuer))
        with self._lock:
            if key in self._verified:
                self.hits += 1
                return True
        ok = _signed_by(child, issuer)
        with self._lock:
            self.misses += 1
            if ok:
                if len(self._verified) >= self.limit:
                    self._verified.clear()  # rare; a cold cache only costs signatures
                self._verified.add(key)
        return ok


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):  # a damaged key is no signer
        return False
    return True


def load_chain(pem: bytes) -> list[x509.Certificate]:
    """The PEM certificates, leaf first (check 1: at least two)."""
    if len(pem) > MAX_CHAIN_BYTES:
        raise EvidenceError("parse", f"certificate chain larger than {MAX_CHAIN_BYTES} bytes")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        raise EvidenceError("parse", "certificates: not PEM certificates (0 in the chain that parse)") from None
    if not 2 <= len(certificates) <= MAX_CHAIN_CERTIFICATES:
        raise EvidenceError("parse", f"certificates: {len(certificates)} in the chain, 2 to 8 expected")
    for n, cert in enumerate(certificates):
        _parse_fully(cert, n)
    return certificates


def _parse_fully(cert: x509.Certificate, n: int) -> None:
    """`cryptography` parses names, extensions and keys when first read: read them here, so that a
    certificate that does not parse is a parse failure, not an exception from a later step."""
    try:
        cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc  # noqa: B018
        cert.extensions  # noqa: B018
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise EvidenceError("parse", f"certificates: certificate {n} does not parse ({type(exc).__name__})") from None
    if _signature_unused_bits(cert.public_bytes(serialization.Encoding.DER)) != 0:
        # `cryptography` reads the signature whatever this byte says: the same signed content in
        # another encoding, which DER does not allow (one certificate, one encoding, one fingerprint).
        raise EvidenceError("parse", f"certificates: certificate {n}'s signature is not a DER BIT STRING")


def _tlv_end(der: bytes, at: int) -> tuple[int, int]:
    """(start of the content, end) of the DER element at `at`."""
    length = der[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    return start, start + length


def _signature_unused_bits(der: bytes) -> int:
    """The unused-bits byte of a certificate's signatureValue (its third element), or -1."""
    try:
        at, _ = _tlv_end(der, 0)  # into Certificate
        _, at = _tlv_end(der, at)  # past tbsCertificate
        _, at = _tlv_end(der, at)  # past signatureAlgorithm
        start, end = _tlv_end(der, at)
        return der[start] if der[at] == 0x03 and end == len(der) else -1
    except IndexError:
        return -1


def verify_chain(
    certificates: list[x509.Certificate], roots: PinnedRoots, at: datetime, cache: ChainCache
) -> x509.Certificate:
    """Check 2: each signed by the next, issuers are CAs, all valid at `at`, ending at a pinned root.

    Returns the pinned root."""
    for n, cert in enumerate(certificates):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise EvidenceError("chain", f"certificate {n} ({_cn(cert)}) is not valid at {at.isoformat()}")
    for n, (child, issuer) in enumerate(itertools.pairwise(certificates)):
        _require_ca(issuer, n + 1)
        if child.issuer != issuer.subject or not cache.signed_by(child, issuer):
            raise EvidenceError("chain", f"certificate {n} ({_cn(child)}) is not signed by certificate {n + 1}")
    last = certificates[-1]
    if roots.pinned(last):
        return last
    root = roots.issuer_of(last)
    if root is None:
        raise EvidenceError("chain", f"the chain ends at {_cn(last)}, which is not a pinned root nor signed by one")
    if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
        raise EvidenceError("chain", f"the pinned root {_cn(root)} is not valid at {at.isoformat()}")
    _require_ca(last, len(certificates) - 1)
    return root


def _require_ca(cert: x509.Certificate, n: int) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError:  # extensions that do not parse
        raise EvidenceError("chain", f"certificate {n} ({_cn(cert)}) has extensions that do not parse") from None
    if constraints is None or not constraints.ca:
        raise EvidenceError("chain", f"certificate {n} ({_cn(cert)}) issues another but is not a CA")


def verify_signature(report: spdm.Report, leaf: x509.Certificate) -> None:
    """Check 3: ECDSA P-384 / SHA-384 over every byte up to the signature, with the leaf's key."""
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise EvidenceError("signature", "the leaf certificate's public key does not parse") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise EvidenceError("signature", "the leaf certificate's key is not ECDSA P-384")
    half = spdm.SIGNATURE_BYTES // 2
    r = int.from_bytes(report.signature[:half], "big")
    s = int.from_bytes(report.signature[half:], "big")
    if not (0 < r and 0 < s):
        raise EvidenceError("signature", "r or s is zero")
    try:
        key.verify(utils.encode_dss_signature(r, s), report.signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise EvidenceError("signature", "the report's signature does not verify with the leaf's key") from None


def check_firmware(report: spdm.Report, leaf: x509.Certificate) -> str:
    """Check 5: the leaf's TcbInfo FWID equals the report's FWID, when both are there. Returns the FWID (hex)."""
    fwid = report.fwid
    try:
        extension = leaf.extensions.get_extension_for_oid(TCB_INFO_OID).value
    except x509.ExtensionNotFound:
        return fwid.hex() if fwid else ""
    except ValueError:
        raise EvidenceError("firmware", "the leaf's extensions do not parse") from None
    if fwid is None:
        return ""
    try:
        digests = dice.fwids(extension.value)
    except ValueError as exc:
        raise EvidenceError("firmware", f"the leaf's TcbInfo extension: {exc}") from None
    if digests and fwid not in digests:
        raise EvidenceError("firmware", "the report's FWID differs from the digest in the leaf's TcbInfo")
    return fwid.hex()


def device_identity(certificates: list[x509.Certificate]) -> tuple[str, str]:
    """Check 6: (identity, SHA-256 hex of its certificate's SubjectPublicKeyInfo).

    The identity certificate is the one a vendor provisioning CA issued (for GH100, the second, CN
    `GH100 A01 GSP BROM`); the identity is `<vendor>-<generation>:<serialNumber>`, the vendor the first
    word of its organisation, the generation the first word of its common name, lower case."""
    for cert in certificates:
        if PROVISIONER_MARK in _cn_of(cert.issuer):
            serials = cert.subject.get_attributes_for_oid(SERIAL_NUMBER_OID)
            organisations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            cn = _cn(cert)
            if not serials or not organisations or not cn:
                raise EvidenceError("identity", f"{cn or 'the identity certificate'} lacks serialNumber, O or CN")
            serial = str(serials[0].value).strip().upper()
            if not serial or any(c not in "0123456789ABCDEF" for c in serial):
                raise EvidenceError("identity", f"serialNumber {serial!r} is not hex")
            vendor = str(organisations[0].value).split()[0].lower()
            generation = cn.split()[0].lower()
            try:
                spki = cert.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            except (ValueError, UnsupportedAlgorithm):
                raise EvidenceError("identity", f"{cn}: its public key does not parse") from None
            return f"{vendor}-{generation}:{serial}", hashlib.sha256(spki).hexdigest()
    raise EvidenceError("identity", "no certificate of the chain was issued by a vendor provisioning CA")


def verify_evidence(
    report_bytes: bytes,
    chain_pem: bytes,
    challenge: str,
    observed_at: datetime,
    roots: PinnedRoots,
    cache: ChainCache | None = None,
    evidence_format: str = FORMAT_NVIDIA_SPDM_V1,
) -> VerifiedEvidence:
    """HARDWARE.md section 4, checks 1 to 6 in order; the first failure raises EvidenceError."""
    if evidence_format != FORMAT_NVIDIA_SPDM_V1:
        raise EvidenceError("parse", f"format {evidence_format!r} is not {FORMAT_NVIDIA_SPDM_V1}")
    cache = cache if cache is not None else ChainCache()
    certificates = load_chain(chain_pem)
    try:
        report = spdm.parse_report(report_bytes)
    except spdm.ReportError as exc:
        raise EvidenceError("parse", exc.detail.removeprefix("report: ")) from None
    root = verify_chain(certificates, roots, observed_at, cache)
    verify_signature(report, certificates[0])
    if report.request_nonce.hex() != challenge.lower():
        raise EvidenceError("freshness", "the report was made for another nonce than the challenge")
    fwid = check_firmware(report, certificates[0])
    identity, identity_key = device_identity(certificates)
    return VerifiedEvidence(
        identity=identity,
        identity_key_sha256=identity_key,
        root_sha256=fingerprint(root),
        leaf_sha256=fingerprint(certificates[0]),
        fwid=fwid,
        driver_version=report.driver_version,
        nonce=report.request_nonce.hex(),
        blocks=len(report.blocks),
    )


def _cn_of(name: x509.Name) -> str:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else ""


def _cn(cert: x509.Certificate) -> str:
    return _cn_of(cert.subject)


def default_roots_folder() -> Path:
    """The roots shipped with chipreg (protocol/roots/: the NVIDIA Device Identity CA)."""
    return Path(__file__).resolve().parent / "roots"
