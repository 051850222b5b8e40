"""Verifying one chip's hardware evidence, in the order HARDWARE.md section 4 gives.

    roots = PinnedRoots.from_folder(path)         # vendor roots, pinned by the SHA-256 of their DER
    cache = ChainCache()                          # shared across calls: verified links are not re-verified
    result = verify_evidence(report, pem_chain, challenge, observed_at, roots, cache)

`verify_evidence` returns a VerifiedEvidence (the device identity and what the
report says) or raises EvidenceError whose `step` names the check that failed
(parse, chain, signature, freshness, firmware, identity) and whose `code` is the
finding of section 5 (`evidence_invalid`, or `evidence_stale` for freshness).

Cost: the report's signature is new every time (a new nonce), so it is always
verified. Everything else about a chain is a fact about fixed bytes, remembered
by the ChainCache: a certificate parsed in full once is not parsed again (the
vendor intermediates every chip carries), a certificate signature once verified
is remembered by the (child, issuer) fingerprints, and a whole chain that
verified is remembered by the SHA-256 of its bytes with what the later checks
read from it (its leaf's key and TcbInfo, its device identity), so a chip that
proves itself again costs its report's parse and signature. Validity dates are
checked every time (they depend on `observed_at`).

Pure Python with `cryptography`: the registry and the agent share it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections import OrderedDict
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


# The longest device identity the registry keeps (HARDWARE.md check 6; registry.HardwareIdentity.identity):
# a vendor CA's words are its to choose, and a longer one must fail as identity, not in the database.
MAX_IDENTITY = 100
IDENTITY_WORD = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Every identity check 6 derives is spelled so; a manufacturer enrols identities in the same spelling.
IDENTITY_RE = re.compile(r"[a-z0-9][a-z0-9._-]*-[a-z0-9][a-z0-9._-]*:[0-9A-F]+")


def is_identity(value):
    """Whether `value` is spelled as a device identity check 6 derives (and fits the registry)."""
    return isinstance(value, str) and len(value) <= MAX_IDENTITY and IDENTITY_RE.fullmatch(value) is not None


class EvidenceError(ProtocolError):
    """One chip's evidence failed check `step`; `code` is the finding it becomes."""

    def __init__(self, step: str, detail: str):
        detail = detail.replace("\x00", "\\x00")  # a detail may quote a certificate's name; NUL is not text to store
        code = "evidence_stale" if step == "freshness" else "evidence_invalid"
        super().__init__(code, f"{step}: {detail}")
        self.step = step
        self.reason = detail

    def again(self) -> EvidenceError:
        """The same failure, a new exception (a remembered one is raised afresh, not re-raised)."""
        return EvidenceError(self.step, self.reason)


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

    def pinned(self, cert: x509.Certificate, sha256: str | None = None) -> bool:
        return (sha256 or fingerprint(cert)) in self.by_fingerprint

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The pinned root that signed `cert`, matched by name and then by signature."""
        for root in self.by_fingerprint.values():
            if root.subject == cert.issuer and _signed_by(cert, root):
                return root
        return None


class _Bounded:
    """A dict that forgets its least recently used entries beyond `limit` (callers hold the lock)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)


@dataclass(frozen=True)
class _Certificate:
    """A certificate parsed in full (check 1 passed), with its fingerprint and its names (`cryptography`
    builds a new Name each time one is read: the costliest part of a new chip's chain after signatures)."""

    cert: x509.Certificate
    sha256: str
    subject: x509.Name
    issuer: x509.Name
    key: object  # its public key, loaded once (check 1 loads it to see that it parses)

    @property
    def cn(self) -> str:
        return _cn_of(self.subject)


@dataclass(frozen=True)
class _Chain:
    """What a chain that verified (checks 1 and 2, bar the dates) tells the later checks, remembered."""

    roots: PinnedRoots  # the roots it was verified against: another set of roots verifies it afresh
    windows: tuple  # (n, common name, not_before, not_after) of each certificate, then of a root outside it
    root_sha256: str
    leaf_sha256: str
    leaf_key: object  # check 3's key, or the EvidenceError check 3 raises before verifying
    tcb_info: object  # the leaf's TcbInfo value (bytes), None without one, or the EvidenceError of check 5
    identity: object  # check 6's (identity, key SHA-256), or its EvidenceError


class ChainCache:
    """What verification learns that does not depend on the report or the time: certificates parsed in
    full, (child fingerprint, issuer fingerprint) pairs whose signature verified, and chains that
    verified. Thread-safe; bounded (least recently used forgotten first: the vendor intermediates stay)."""

    def __init__(self, limit: int = 100_000, chains: int = 20_000, certificates: int = 4_096):
        self._verified: set[tuple[str, str]] = set()
        self._certificates = _Bounded(certificates)
        self._chains = _Bounded(chains)
        self._lock = threading.Lock()
        self.limit = limit
        self.hits = self.misses = 0  # certificate signatures remembered, verified
        self.chain_hits = 0

    def signed_by(self, child: _Certificate, issuer: _Certificate) -> bool:
        key = (child.sha256, issuer.sha256)
        with self._lock:
            if key in self._verified:
                self.hits += 1
                return True
        ok = _signed_by(child.cert, issuer.cert)
        with self._lock:
            self.misses += 1
            if ok:
                if len(self._verified) >= self.limit:
                    self._verified.clear()  # rare; a cold cache only costs signatures
                self._verified.add(key)
        return ok

    def certificate(self, der: bytes) -> _Certificate | None:
        with self._lock:
            return self._certificates.get(der)

    def remember_certificate(self, known: _Certificate, der: bytes) -> None:
        with self._lock:
            self._certificates.put(der, known)

    def chain(self, digest: bytes, roots: PinnedRoots) -> _Chain | None:
        with self._lock:
            known = self._chains.get(digest)
            if known is None or known.roots is not roots:
                return None
            self.chain_hits += 1
            return known

    def remember_chain(self, digest: bytes, chain: _Chain) -> None:
        with self._lock:
            self._chains.put(digest, chain)


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):  # a damaged key is no signer
        return False
    return True


def load_chain(pem: bytes) -> list[x509.Certificate]:
    """The PEM certificates, leaf first (check 1: at least two)."""
    return [c.cert for c in _load_chain(pem, ChainCache())]


def _load_chain(pem: bytes, cache: ChainCache) -> list[_Certificate]:
    if len(pem) > MAX_CHAIN_BYTES:
        raise EvidenceError("parse", f"certificate chain larger than {MAX_CHAIN_BYTES} bytes")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        raise EvidenceError("parse", "certificates: not PEM certificates (0 in the chain that parse)") from None
    if not 2 <= len(certificates) <= MAX_CHAIN_CERTIFICATES:
        raise EvidenceError("parse", f"certificates: {len(certificates)} in the chain, 2 to 8 expected")
    if pem.count(b"-----BEGIN") != len(certificates):
        # A block the reader skipped (one left unfinished, a chain cut mid-certificate, another kind of block) is
        # no PEM certificate: the chain is 2 to 8 of them and nothing else, not the ones that happen to parse.
        raise EvidenceError("parse", "certificates: a PEM block that is not a whole certificate")
    return [_parsed(cert, n, cache) for n, cert in enumerate(certificates)]


def _parsed(cert: x509.Certificate, n: int, cache: ChainCache) -> _Certificate:
    """The certificate parsed in full, or the same bytes parsed before (the object that was: its
    names and extensions read already)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    known = cache.certificate(der)
    if known is None:
        known = _Certificate(cert, hashlib.sha256(der).hexdigest(), *_parse_fully(cert, n, der))
        cache.remember_certificate(known, der)
    return known


def _parse_fully(cert: x509.Certificate, n: int, der: bytes) -> tuple[x509.Name, x509.Name, object]:
    """`cryptography` parses names, extensions and keys when first read: read them here, so that a
    certificate that does not parse is a parse failure, not an exception from a later step. Returns
    (subject, issuer, public key)."""
    try:
        subject, issuer = cert.subject, cert.issuer
        cert.not_valid_before_utc, cert.not_valid_after_utc  # noqa: B018
        cert.extensions  # noqa: B018
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:  # the last is no ValueError
        raise EvidenceError("parse", f"certificates: certificate {n} does not parse ({type(exc).__name__})") from None
    if _signature_unused_bits(der) != 0:
        # `cryptography` reads the signature whatever this byte says: the same signed content in
        # another encoding, which DER does not allow (one certificate, one encoding, one fingerprint).
        raise EvidenceError("parse", f"certificates: certificate {n}'s signature is not a DER BIT STRING")
    return subject, issuer, key


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


def _chain_facts(certificates: list[_Certificate], roots: PinnedRoots, cache: ChainCache) -> _Chain:
    """Check 2 bar the dates: each signed by the next, issuers are CAs, ending at a pinned root; and what
    checks 3, 5 and 6 will read from the chain (their failures kept, to be raised in their turn)."""
    for n, (child, issuer) in enumerate(itertools.pairwise(certificates)):
        _require_ca(issuer.cert, n + 1)
        if child.issuer != issuer.subject or not cache.signed_by(child, issuer):
            raise EvidenceError("chain", f"certificate {n} ({child.cn}) is not signed by certificate {n + 1}")
    windows = _windows(certificates)
    last = certificates[-1]
    if roots.pinned(last.cert, last.sha256):
        root_sha256 = last.sha256
    else:
        root = roots.issuer_of(last.cert)
        if root is None:
            raise EvidenceError("chain", f"the chain ends at {last.cn}, which is not a pinned root nor signed by one")
        _require_ca(last.cert, len(certificates) - 1)
        windows.append((None, _cn(root), root.not_valid_before_utc, root.not_valid_after_utc))
        root_sha256 = fingerprint(root)
    leaf = certificates[0]
    return _Chain(
        roots=roots,
        windows=tuple(windows),
        root_sha256=root_sha256,
        leaf_sha256=certificates[0].sha256,
        leaf_key=_settled(_leaf_key, leaf),
        tcb_info=_settled(_tcb_info, leaf.cert),
        identity=_settled(device_identity, certificates),
    )


def _settled(check, *args):
    """`check(*args)`, or the EvidenceError it raised (kept to be raised in its turn)."""
    try:
        return check(*args)
    except EvidenceError as exc:
        return exc


def _outcome(value):
    if isinstance(value, EvidenceError):
        raise value.again()
    return value


def _windows(certificates: list[_Certificate]) -> list[tuple]:
    return [(n, c.cn, c.cert.not_valid_before_utc, c.cert.not_valid_after_utc) for n, c in enumerate(certificates)]


def _check_dates(windows, at: datetime) -> None:
    """Check 2's dates: each certificate of `windows` (and a pinned root outside the chain, n None) valid at `at`."""
    for n, cn, not_before, not_after in windows:
        if not not_before <= at <= not_after:
            if n is None:
                raise EvidenceError("chain", f"the pinned root {cn} is not valid at {at.isoformat()}")
            raise EvidenceError("chain", f"certificate {n} ({cn}) is not valid at {at.isoformat()}")


def _verified_chain(certificates: list[_Certificate], roots: PinnedRoots, at: datetime, cache: ChainCache) -> _Chain:
    # The certificates' own dates come first, as check 2 lists them; a pinned root outside the chain
    # is dated once the chain is known to end at it.
    _check_dates(_windows(certificates), at)
    chain = _chain_facts(certificates, roots, cache)
    _check_dates(chain.windows[len(certificates) :], at)
    return chain


def _require_ca(cert: x509.Certificate, n: int) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError:  # extensions that do not parse
        raise EvidenceError("chain", f"certificate {n} ({_cn(cert)}) has extensions that do not parse") from None
    if constraints is None or not constraints.ca:
        raise EvidenceError("chain", f"certificate {n} ({_cn(cert)}) issues another but is not a CA")


def _leaf_key(leaf: _Certificate) -> ec.EllipticCurvePublicKey:
    key = leaf.key  # parsed with the certificate (check 1)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise EvidenceError("signature", "the leaf certificate's key is not ECDSA P-384")
    return key


def verify_signature(report: spdm.Report, key: ec.EllipticCurvePublicKey) -> None:
    """Check 3: ECDSA P-384 / SHA-384 over every byte up to the signature, with the leaf's key."""
    half = spdm.SIGNATURE_BYTES // 2
    r = int.from_bytes(report.signature[:half], "big")
    s = int.from_bytes(report.signature[half:], "big")
    if not (0 < r and 0 < s):
        raise EvidenceError("signature", "r or s is zero")
    try:
        key.verify(utils.encode_dss_signature(r, s), report.signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise EvidenceError("signature", "the report's signature does not verify with the leaf's key") from None


def _tcb_info(leaf: x509.Certificate) -> bytes | None:
    """The leaf's TcbInfo extension's value, None without one."""
    try:
        return leaf.extensions.get_extension_for_oid(TCB_INFO_OID).value.value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise EvidenceError("firmware", "the leaf's extensions do not parse") from None


def check_firmware(report: spdm.Report, tcb_info: bytes | None) -> str:
    """Check 5: the leaf's TcbInfo FWID equals the report's FWID, when both are there. Returns the FWID (hex)."""
    fwid = report.fwid
    if tcb_info is None:
        return fwid.hex() if fwid else ""
    if fwid is None:
        return ""
    try:
        digests = dice.fwids(tcb_info)
    except ValueError as exc:
        raise EvidenceError("firmware", f"the leaf's TcbInfo extension: {exc}") from None
    if digests and fwid not in digests:
        raise EvidenceError("firmware", "the report's FWID differs from the digest in the leaf's TcbInfo")
    return fwid.hex()


def device_identity(certificates: list[_Certificate]) -> tuple[str, str]:
    """Check 6: (identity, SHA-256 hex of its certificate's SubjectPublicKeyInfo).

    The identity certificate is the one a vendor provisioning CA issued (for GH100, the second, CN
    `GH100 A01 GSP BROM`); the identity is `<vendor>-<generation>:<serialNumber>`, the vendor the first
    word of its organisation, the generation the first word of its common name, lower case."""
    for cert in certificates:
        if PROVISIONER_MARK in _cn_of(cert.issuer):
            serials = cert.subject.get_attributes_for_oid(SERIAL_NUMBER_OID)
            organisations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            cn = cert.cn
            if not serials or not organisations or not cn:
                raise EvidenceError("identity", f"{cn or 'the identity certificate'} lacks serialNumber, O or CN")
            serial = str(serials[0].value).strip().upper()
            if not serial or any(c not in "0123456789ABCDEF" for c in serial):
                raise EvidenceError("identity", f"serialNumber {serial!r} is not hex")
            # A name of blanks is a name of no words: no vendor or generation to name the identity by.
            vendor_words, generation_words = str(organisations[0].value).split(), cn.split()
            if not vendor_words or not generation_words:
                raise EvidenceError("identity", "the identity certificate's O or CN is blank")
            vendor, generation = vendor_words[0].lower(), generation_words[0].lower()
            # The words are the vendor CA's to choose: an identity is stored, compared and shown, so only
            # letters, digits, '.', '_' and '-' (a NUL cannot be stored; a bidi control would misdisplay).
            if not (IDENTITY_WORD.fullmatch(vendor) and IDENTITY_WORD.fullmatch(generation)):
                raise EvidenceError(
                    "identity",
                    "the identity certificate's O or CN does not begin with a word of a-z, 0-9, '.', '_', '-'",
                )
            try:
                spki = cert.key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            except (ValueError, UnsupportedAlgorithm):
                raise EvidenceError("identity", f"{cn}: its public key does not parse") from None
            identity = f"{vendor}-{generation}:{serial}"
            if len(identity) > MAX_IDENTITY:
                raise EvidenceError("identity", f"the device identity is longer than {MAX_IDENTITY} characters")
            return identity, hashlib.sha256(spki).hexdigest()
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
    # A chain that verified before is the same bytes: its checks 1 and 2 (bar the dates) hold again.
    digest = hashlib.sha256(chain_pem).digest() if len(chain_pem) <= MAX_CHAIN_BYTES else b""
    chain = cache.chain(digest, roots) if digest else None
    certificates = _load_chain(chain_pem, cache) if chain is None else None
    try:
        report = spdm.parse_report(report_bytes)
    except spdm.ReportError as exc:
        raise EvidenceError("parse", exc.detail.removeprefix("report: ")) from None
    if chain is None:
        chain = _verified_chain(certificates, roots, observed_at, cache)
        cache.remember_chain(digest, chain)
    else:
        _check_dates(chain.windows, observed_at)
    verify_signature(report, _outcome(chain.leaf_key))
    if report.request_nonce.hex() != challenge.lower():
        raise EvidenceError("freshness", "the report was made for another nonce than the challenge")
    fwid = check_firmware(report, _outcome(chain.tcb_info))
    identity, identity_key = _outcome(chain.identity)
    return VerifiedEvidence(
        identity=identity,
        identity_key_sha256=identity_key,
        root_sha256=chain.root_sha256,
        leaf_sha256=chain.leaf_sha256,
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
