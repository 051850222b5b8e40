"""`chipreg verify-evidence`: an alert's evidence bundle checked offline (LOG.md section 5).

The checks are protocol.evidence's, which any treaty party's verifier shares; this module
reads the files and turns a failure into the agent's verification error (exit code 5).
"""

from __future__ import annotations

from pathlib import Path

from agent.errors import UsageError, VerificationError
from protocol.evidence import EvidenceError, VerifiedEvidence, verify_bundle


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def parse_envelope_args(values: list[str] | None) -> dict[int, bytes]:
    """{log index: envelope bytes} from `INDEX=FILE` arguments."""
    out: dict[int, bytes] = {}
    for value in values or []:
        index, sep, path = value.partition("=")
        if not sep or not index.isascii() or not index.isdigit() or not path:
            raise UsageError(f"--envelope takes LOG_INDEX=FILE; got {value!r}")
        if int(index) in out:
            raise UsageError(f"--envelope given twice for log index {index}")
        out[int(index)] = _read(path, "envelope")
    return out


def verify_evidence_files(
    bundle_path: str, log_key: str, chips_path: str | None = None, envelopes: list[str] | None = None
) -> VerifiedEvidence:
    bundle = _read(bundle_path, "evidence bundle")
    chips = _read(chips_path, "chip list") if chips_path else None
    try:
        return verify_bundle(bundle, log_key, chips=chips, envelopes=parse_envelope_args(envelopes))
    except EvidenceError as exc:
        raise VerificationError(f"evidence bundle does not verify at step {exc.detail}") from None
