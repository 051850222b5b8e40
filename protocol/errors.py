"""The single exception type of the wire formats, carrying a stable code.

Callers (the API, the agent, verifiers) map failures to RFC 9457 problem details
by `code`, so the code is the contract and `detail` is only for humans. The HTTP
status is suggested here (ATTESTATION.md section 6) so that every caller answers
the same status for the same failure.
"""

from __future__ import annotations

# ATTESTATION.md section 6, plus the codes this package adds for its own
# inputs (serials, proofs, checkpoints, keys) which are all client errors.
STATUS_BY_CODE: dict[str, int] = {
    "malformed_envelope": 400,
    "unsupported_payload_type": 400,
    "malformed_statement": 400,
    "unknown_facility": 400,
    "stale_statement": 400,
    "future_statement": 400,
    "unsupported_key": 400,
    "malformed_serial": 400,
    "invalid_proof": 400,
    "invalid_checkpoint": 400,
    "invalid_cosignature": 400,
    "invalid_evidence": 400,
    "leaf_too_large": 400,
    "unknown_challenge": 400,
    "expired_challenge": 400,
    "not_authenticated": 401,
    "bad_signature": 403,
    "unknown_key": 403,
    "revoked_key": 403,
    "key_not_authorized": 403,
    "facility_not_operated": 403,
    "forbidden": 403,
    "replayed_nonce": 409,
    "used_challenge": 409,
    "payload_too_large": 413,
}


class ProtocolError(Exception):
    """A wire-format input was refused; `code` is stable, `detail` is prose."""

    def __init__(self, code: str, detail: str = "", status: int | None = None):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)

    def __repr__(self) -> str:
        return f"ProtocolError({self.code!r}, {self.detail!r}, status={self.status})"


class InvalidChipId(ProtocolError, ValueError):
    """A serial, manufacturer slug or chip id that is not in the registry's form.

    Also a ValueError so that form and queryset code can treat it like any other
    bad value (`except ValueError`) without knowing about this package.
    """

    def __init__(self, detail: str):
        super().__init__("malformed_serial", detail)
