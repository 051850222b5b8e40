"""Hardware evidence of this host's GPUs over a registry challenge (HARDWARE.md 1-2).

Through NVML (`nvmlDeviceGetConfComputeGpuAttestationReport` over the challenge,
`nvmlDeviceGetConfComputeGpuCertificate` for the attestation chain), or from
recorded report and chain files (`--from-files`). A GPU that cannot produce
evidence is reported with the reason, by chip, and the others still go.

Each chip's evidence is verified here too, with the same verifier the registry
runs (protocol.hardware), so that an operator learns before sending that a
report will become a finding; it is still sent: the record is the point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent import nvml
from agent.errors import UsageError
from protocol.hardware import (
    FORMAT_NVIDIA_SPDM_V1,
    ChainCache,
    EvidenceError,
    PinnedRoots,
    default_roots_folder,
    verify_evidence,
)
from protocol.statements import MAX_CERTIFICATES_BYTES, MAX_REPORT_BYTES

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_DEVICE_ARCH_HOPPER = 9
ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada"}
REPORT_FN = "nvmlDeviceGetConfComputeGpuAttestationReport"
CHAIN_FN = "nvmlDeviceGetConfComputeGpuCertificate"
HEX_RE = re.compile(rb"[0-9A-Fa-f\s]+")


@dataclass
class ChipEvidence:
    chip: str
    report: bytes
    certificates: bytes
    source: str


@dataclass
class Collected:
    evidence: list[ChipEvidence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per GPU that produced none, naming it and why


def read_report_file(path: Path) -> bytes:
    """A recorded report: raw bytes, or hex text (as NVIDIA's samples are)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data and HEX_RE.fullmatch(data):
        try:
            return bytes.fromhex(data.decode("ascii"))
        except ValueError:
            raise UsageError(f"{path}: hex text of odd length") from None
    return data


def from_files(triples: list[list[str]]) -> Collected:
    """`--from-files CHIP REPORT CHAIN`, repeated."""
    out, seen = Collected(), set()
    for chip, report, chain in triples:
        if chip in seen:
            raise UsageError(f"chip {chip} is given twice")
        seen.add(chip)
        try:
            certificates = Path(chain).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {chain}: {exc.strerror or exc}") from None
        out.evidence.append(ChipEvidence(chip, read_report_file(Path(report)), certificates, f"{report}, {chain}"))
    return out


# What `attest evidence` offers instead of NVML (its usage error names it).
FROM_FILES = "give recorded reports with --from-files and --challenge"


def from_nvml(challenge: str, chip_of: dict[str, str]) -> Collected:
    """Every GPU's report over the challenge. `chip_of`: NVML serial -> registry chip id."""
    nonce = bytes.fromhex(challenge)
    out = Collected()
    with nvml.session(instead=FROM_FILES) as lib:
        for index, handle in enumerate(nvml.handles(lib)):
            serial = nvml.identity(lib, handle).get("serial")
            chip = chip_of.get(serial or "")
            name = chip or f"GPU {index} (serial {serial or 'unknown'})"
            if chip is None:
                out.problems.append(f"{name}: no registry chip id; left out")
                continue
            why = _cannot_attest(lib, handle)
            if why:
                out.problems.append(f"{chip}: {why}")
                continue
            try:
                report = getattr(lib, REPORT_FN)(handle, nonce)
                chain = getattr(lib, CHAIN_FN)(handle)
            except Exception as exc:
                out.problems.append(f"{chip}: {_reason(exc)}")
                continue
            try:
                report_bytes = _blob(report, "attestationReport", MAX_REPORT_BYTES, "report")
                chain_bytes = _blob(chain, "attestationCertChain", MAX_CERTIFICATES_BYTES, "certificate chain")
            except ValueError as exc:
                out.problems.append(f"{chip}: cannot produce evidence: NVML answered {exc}; left out")
                continue
            out.evidence.append(ChipEvidence(chip, report_bytes, chain_bytes, f"NVML GPU {index}"))
    return out


def _blob(answer: Any, field: str, limit: int, what: str) -> bytes:
    """The `size` bytes of an NVML answer's buffer, refusing a size that is 0, beyond the buffer or the limit.

    One GPU's empty or oversized blob would otherwise make the whole statement malformed and keep
    every other GPU's evidence from being sent.
    """
    buffer, size = getattr(answer, field, None), getattr(answer, f"{field}Size", None)
    if buffer is None or isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"no {what}")
    if not 0 < size <= min(len(buffer), limit):
        raise ValueError(f"a {what} of {size} bytes (buffer {len(buffer)} bytes, at most {limit} accepted)")
    return bytes(buffer[:size])


def _cannot_attest(lib: Any, handle: Any) -> str | None:
    """Why this GPU cannot produce a report, when that is known before asking."""
    if getattr(lib, REPORT_FN, None) is None or getattr(lib, CHAIN_FN, None) is None:
        return (
            "cannot produce evidence: this nvidia-ml-py has no attestation calls (upgrade nvidia-ml-py to 12.535 "
            "or later)"
        )
    arch = nvml.call(lib, "nvmlDeviceGetArchitecture", handle)
    if isinstance(arch, int) and arch < NVML_DEVICE_ARCH_HOPPER:
        return (
            f"cannot produce evidence: a {ARCHITECTURES.get(arch, f'architecture {arch}')} part (hardware evidence "
            "needs Hopper or later)"
        )
    return None


def _reason(exc: BaseException) -> str:
    value = getattr(exc, "value", None)
    if value == NVML_ERROR_FUNCTION_NOT_FOUND:
        return "cannot produce evidence: the driver is too old for attestation reports (R535 or later needed)"
    if value == NVML_ERROR_NOT_SUPPORTED:
        return (
            "cannot produce evidence: the GPU or its mode does not support attestation reports (not a Hopper-or-"
            "later part, or confidential computing is not enabled)"
        )
    if value == NVML_ERROR_NO_PERMISSION:
        return "cannot produce evidence: NVML refused permission (run the agent as root or in the GPU's group)"
    return f"cannot produce evidence: NVML said {exc}"


def check_locally(collected: Collected, challenge: str, observed_at: datetime, roots_folder: Path | None) -> list[str]:
    """Warnings for the evidence that will not verify at the registry (protocol.hardware), by chip."""
    roots = PinnedRoots.from_folder(roots_folder or default_roots_folder())
    cache, warnings = ChainCache(), []
    for item in collected.evidence:
        try:
            verify_evidence(item.report, item.certificates, challenge, observed_at, roots, cache)
        except EvidenceError as exc:
            warnings.append(f"{item.chip}: the evidence will not verify ({exc.code}, {exc.detail}); sent anyway")
    return warnings


FORMAT = FORMAT_NVIDIA_SPDM_V1
