"""The SPDM 1.1 GET_MEASUREMENTS request and signed MEASUREMENTS response, parsed to the byte (HARDWARE.md 3).

A GPU's attestation report, as NVML returns it, is the request the driver sent
followed by the device's response. Parsing is strict: every length must add up
exactly and nothing may follow the signature, so that the bytes a verifier
signs over are exactly the bytes it has read. Integers are little-endian
(DSP0274); the signature is ECDSA P-384 `r ‖ s`, 48 bytes each, big-endian.

Pure Python and bytes: the registry and the agent share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ProtocolError

SPDM_VERSION_1_1 = 0x11
GET_MEASUREMENTS = 0xE0
MEASUREMENTS = 0x60
REQUEST_BYTES = 37
NONCE_BYTES = 32
SIGNATURE_BYTES = 96  # ECDSA P-384: r and s, 48 bytes each
ALL_BLOCKS = 0xFF

# NVIDIA's opaque data field types (HARDWARE.md 3); others are kept as they come.
OPAQUE_DRIVER_VERSION = 3
OPAQUE_VBIOS_VERSION = 6
OPAQUE_CHIP_SKU = 15
OPAQUE_PROJECT = 17
OPAQUE_PROJECT_SKU = 18
OPAQUE_FWID = 20
FWID_BYTES = 48


class ReportError(ProtocolError):
    """The report does not parse as HARDWARE.md section 3 says; `detail` names the field and offset."""

    def __init__(self, detail: str):
        super().__init__("evidence_invalid", f"report: {detail}")


@dataclass(frozen=True)
class MeasurementBlock:
    index: int
    specification: int
    value: bytes


@dataclass(frozen=True)
class Report:
    """One parsed report. `signed` is every byte up to the signature (what the device signed)."""

    request_nonce: bytes
    slot: int
    param1: int
    param2: int
    blocks: tuple[MeasurementBlock, ...]
    responder_nonce: bytes
    opaque: tuple[tuple[int, bytes], ...]
    signature: bytes
    signed: bytes

    def opaque_value(self, field_type: int) -> bytes | None:
        """The first opaque field of this type, or None."""
        for kind, value in self.opaque:
            if kind == field_type:
                return value
        return None

    def opaque_text(self, field_type: int) -> str:
        value = self.opaque_value(field_type)
        return value.rstrip(b"\x00").decode("ascii", "replace") if value is not None else ""

    @property
    def fwid(self) -> bytes | None:
        return self.opaque_value(OPAQUE_FWID)

    @property
    def driver_version(self) -> str:
        return self.opaque_text(OPAQUE_DRIVER_VERSION)


class _Reader:
    """Consumes bytes left to right; every read names what it reads, for the error."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ReportError(f"{what} at byte {self.at}: needs {size} bytes, {len(self.data) - self.at} left")
        out = self.data[self.at : self.at + size]
        self.at += size
        return out

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def expect(self, value: int, what: str) -> None:
        at = self.at
        got = self.uint(1, what)
        if got != value:
            raise ReportError(f"{what} at byte {at} is 0x{got:02x}, expected 0x{value:02x}")


def parse_report(data: bytes) -> Report:
    """Parse request + response exactly; ReportError names the first field that does not fit."""
    if not isinstance(data, bytes | bytearray):
        raise ReportError("not bytes")
    data = bytes(data)
    r = _Reader(data)
    r.expect(SPDM_VERSION_1_1, "request SPDMVersion")
    r.expect(GET_MEASUREMENTS, "request RequestResponseCode")
    param1 = r.uint(1, "request Param1")
    if not param1 & 1:
        raise ReportError("request Param1: no signature was requested")
    param2 = r.uint(1, "request Param2")
    if param2 != ALL_BLOCKS:
        raise ReportError(f"request Param2 is 0x{param2:02x}, expected 0xff (all measurement blocks)")
    request_nonce = r.take(NONCE_BYTES, "request Nonce")
    slot = r.uint(1, "request SlotIDParam")

    r.expect(SPDM_VERSION_1_1, "response SPDMVersion")
    r.expect(MEASUREMENTS, "response RequestResponseCode")
    r.uint(1, "response Param1")
    r.uint(1, "response Param2")
    count = r.uint(1, "response NumberOfBlocks")
    record = r.take(r.uint(3, "response MeasurementRecordLength"), "response MeasurementRecord")
    blocks = _blocks(record, count)
    responder_nonce = r.take(NONCE_BYTES, "response Nonce")
    opaque = _opaque(r.take(r.uint(2, "response OpaqueDataLength"), "response OpaqueData"))
    signed = data[: r.at]
    signature = r.take(SIGNATURE_BYTES, "response Signature")
    if r.at != len(data):
        raise ReportError(f"{len(data) - r.at} bytes follow the signature")
    return Report(request_nonce, slot, param1, param2, blocks, responder_nonce, opaque, signature, signed)


def _blocks(record: bytes, count: int) -> tuple[MeasurementBlock, ...]:
    r = _Reader(record)
    blocks = []
    for n in range(count):
        index = r.uint(1, f"measurement block {n} Index")
        specification = r.uint(1, f"measurement block {n} MeasurementSpecification")
        value = r.take(r.uint(2, f"measurement block {n} MeasurementSize"), f"measurement block {n} Measurement")
        blocks.append(MeasurementBlock(index, specification, value))
    if r.at != len(record):
        raise ReportError(f"MeasurementRecord holds {len(record) - r.at} bytes beyond its {count} blocks")
    return tuple(blocks)


def _opaque(data: bytes) -> tuple[tuple[int, bytes], ...]:
    r = _Reader(data)
    fields = []
    while r.at < len(data):
        kind = r.uint(2, "opaque field Type")
        fields.append((kind, r.take(r.uint(2, f"opaque field {kind} Size"), f"opaque field {kind} Value")))
    return tuple(fields)


def build_report(
    request_nonce: bytes,
    blocks: list[MeasurementBlock],
    opaque: list[tuple[int, bytes]],
    sign,
    responder_nonce: bytes = b"\x00" * NONCE_BYTES,
    slot: int = 0,
) -> bytes:
    """The bytes of a report in this layout, signed by `sign(signed_bytes) -> 96-byte r‖s`.

    For the agent's recorded-evidence tests, the registry's tests and the benchmark: real reports come from
    the GPU; this builds ones a throwaway key signs (the parser reads both the same way)."""
    if len(request_nonce) != NONCE_BYTES or len(responder_nonce) != NONCE_BYTES:
        raise ValueError("nonces are 32 bytes")
    record = b"".join(bytes([b.index, b.specification]) + len(b.value).to_bytes(2, "little") + b.value for b in blocks)
    opaque_bytes = b"".join(kind.to_bytes(2, "little") + len(v).to_bytes(2, "little") + v for kind, v in opaque)
    signed = (
        bytes([SPDM_VERSION_1_1, GET_MEASUREMENTS, 0x01, ALL_BLOCKS])
        + request_nonce
        + bytes([slot, SPDM_VERSION_1_1, MEASUREMENTS, 0x00, 0x00, len(blocks)])
        + len(record).to_bytes(3, "little")
        + record
        + responder_nonce
        + len(opaque_bytes).to_bytes(2, "little")
        + opaque_bytes
    )
    signature = sign(signed)
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError("the signature is r‖s, 96 bytes")
    return signed + signature
