"""Hardware evidence from throwaway keys, in the layout of NVIDIA's (HARDWARE.md 3 and 4).

For tests, the benchmark and the demo: a `Vendor` is a root, an identity CA and
a provisioning CA of P-384 keys; `Vendor.device(serial)` is a chip with its
identity (BROM) certificate; `Device.evidence(nonce)` signs a fresh leaf and a
report over the nonce. None of it verifies unless the caller pins the vendor's
root, which is the point: the registry can be made to disbelieve it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from protocol import spdm
from protocol.hardware import SERIAL_NUMBER_OID, TCB_INFO_OID

NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
SHA384_OID_DER = bytes.fromhex("0609608648016503040202")


def _key():
    return ec.generate_private_key(ec.SECP384R1())


def _name(cn, organisation="Example Vendor", serial=None):
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if serial:
        attributes.append(x509.NameAttribute(SERIAL_NUMBER_OID, serial))
    return x509.Name(attributes)


def _certificate(subject, key, issuer, issuer_key, ca, extensions=(), not_after=NOT_AFTER):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


def tcb_info(fwid: bytes) -> x509.UnrecognizedExtension:
    """The composite-identity shape of the TcbInfo extension, as NVIDIA's leaves carry it, with this FWID."""

    def tlv(tag, value):
        n = len(value)
        length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
        return bytes([tag]) + length + value

    fwid_der = tlv(0x30, SHA384_OID_DER + tlv(0x04, fwid))
    return x509.UnrecognizedExtension(TCB_INFO_OID, tlv(0x30, tlv(0x02, b"\x01") + fwid_der))


def pem(*certificates) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


@dataclass
class Vendor:
    """A root, an identity CA under it and a provisioning CA under that (the ICA whose name marks identity)."""

    organisation: str = "Example Vendor"
    generation: str = "GX100"
    root_key: object = field(default_factory=_key)
    identity_key: object = field(default_factory=_key)
    provisioner_key: object = field(default_factory=_key)

    def __post_init__(self):
        org = self.organisation
        self.root = _certificate(
            _name(f"{org} Device Identity CA", org),
            self.root_key,
            _name(f"{org} Device Identity CA", org),
            self.root_key,
            True,
        )
        self.identity_ca = _certificate(
            _name(f"{org} {self.generation} Identity", org), self.identity_key, self.root.subject, self.root_key, True
        )
        self.provisioner = _certificate(
            _name(f"{org} {self.generation} Provisioner ICA 1", org),
            self.provisioner_key,
            self.identity_ca.subject,
            self.identity_key,
            True,
        )

    def root_pem(self) -> bytes:
        return pem(self.root)

    def device(self, serial: str | None = None) -> Device:
        serial = serial or os.urandom(9).hex().upper()
        key = _key()
        brom = _certificate(
            _name(f"{self.generation} A01 GSP BROM", self.organisation, serial),
            key,
            self.provisioner.subject,
            self.provisioner_key,
            True,
        )
        return Device(self, serial, key, brom)


@dataclass
class Device:
    vendor: Vendor
    serial: str
    key: object
    brom: object
    fwid: bytes = field(default_factory=lambda: hashlib.sha384(os.urandom(16)).digest())
    _leaf: tuple | None = None

    @property
    def identity(self) -> str:
        return f"{self.vendor.organisation.split()[0].lower()}-{self.vendor.generation.lower()}:{self.serial}"

    def leaf(self):
        """The device's attestation leaf (made once: a device re-attests with the same leaf until it reboots)."""
        if self._leaf is None:
            key = _key()
            cert = _certificate(
                _name(
                    f"{self.vendor.generation} A01 GSP FMC LF", self.vendor.organisation, os.urandom(20).hex().upper()
                ),
                key,
                self.brom.subject,
                self.key,
                None,
                extensions=[tcb_info(self.fwid)],
            )
            self._leaf = (key, cert)
        return self._leaf

    def chain_pem(self) -> bytes:
        _, leaf = self.leaf()
        v = self.vendor
        return pem(leaf, self.brom, v.provisioner, v.identity_ca, v.root)

    def report(self, nonce: bytes | str, fwid: bytes | None = None, driver: str = "550.90.07") -> bytes:
        """A report over `nonce` signed by the leaf, carrying this FWID (the device's own by default)."""
        nonce = bytes.fromhex(nonce) if isinstance(nonce, str) else nonce
        key, _ = self.leaf()

        def sign(data):
            r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384())))
            return r.to_bytes(48, "big") + s.to_bytes(48, "big")

        blocks = [spdm.MeasurementBlock(i, 1, os.urandom(51)) for i in range(1, 5)]
        opaque = [(spdm.OPAQUE_DRIVER_VERSION, driver.encode() + b"\x00"), (spdm.OPAQUE_FWID, fwid or self.fwid)]
        return spdm.build_report(nonce, blocks, opaque, sign, responder_nonce=os.urandom(32))

    def evidence(self, nonce: bytes | str) -> tuple[bytes, bytes]:
        """(report, chain PEM) over this nonce."""
        return self.report(nonce), self.chain_pem()
