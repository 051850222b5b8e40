"""Statements of ATTESTATION.md section 3, built from the inventory and the samples.

Each statement is checked with protocol.statements.parse_statement before it is
signed, so that the agent never signs something the registry would call
malformed (a bad facility code, an empty usage report, a period of 32 days).
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from typing import Any

from agent.errors import UsageError
from agent.samples import ChipUsage
from protocol.encoding import jcs
from protocol.errors import ProtocolError
from protocol.statements import MAX_USAGE_PERIOD, REGISTRY_CODE_RE, WORKLOADS, parse_statement
from protocol.times import format_time


def _ceil(x: float, digits: int) -> float:
    scale = 10**digits
    return math.ceil(x * scale - 1e-9) / scale


def location(
    *,
    operator: str,
    facility: str,
    chips: list[str],
    scope: str,
    observed_at: datetime,
    issued_at: datetime,
    nonce: str,
    cluster: str | None = None,
) -> dict[str, Any]:
    entries = [{"chip": c, "cluster": cluster} if cluster else {"chip": c} for c in chips]
    return {
        "v": 1,
        "kind": "location",
        "issued_at": format_time(issued_at),
        "nonce": nonce,
        "operator": operator,
        "facility": facility,
        "observed_at": format_time(observed_at),
        "scope": scope,
        "chips": entries,
    }


def usage_entry(u: ChipUsage, period_s: float) -> dict[str, Any]:
    """One chip's figures, rounded so as never to understate: active time to the
    millisecond (capped at the period), utilization up to 1e-6, energy up to 1 mJ."""
    return {
        "chip": u.chip,
        "active_s": min(round(u.active_s, 3), period_s),
        "utilization": min(1.0, _ceil(u.utilization, 6)),
        "energy_j": _ceil(u.energy_j, 3),
    }


def usage(
    *,
    operator: str,
    facility: str,
    period_start: datetime,
    period_end: datetime,
    usages: list[ChipUsage],
    issued_at: datetime,
    nonce: str,
    workload: str | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    if period_end <= period_start:
        raise UsageError("--until must be after --since")
    if period_end - period_start > MAX_USAGE_PERIOD:
        raise UsageError("a usage period may be at most 31 days long")
    if period_end > issued_at:
        raise UsageError("the period may not end in the future")
    if workload is not None and workload not in WORKLOADS:
        raise UsageError(f"workload must be one of {', '.join(WORKLOADS)}")
    if run is not None and not REGISTRY_CODE_RE.fullmatch(run):
        raise UsageError("--run must be a run's registry id (1-64 characters from A-Z a-z 0-9 . _ -)")
    period_s = (period_end - period_start).total_seconds()
    obj: dict[str, Any] = {
        "v": 1,
        "kind": "usage",
        "issued_at": format_time(issued_at),
        "nonce": nonce,
        "operator": operator,
        "facility": facility,
        "period_start": format_time(period_start),
        "period_end": format_time(period_end),
        "chips": [usage_entry(u, period_s) for u in usages],
    }
    if workload is not None:
        obj["workload"] = workload
    if run is not None:
        obj["run"] = run
    return obj


def evidence(
    *,
    operator: str,
    facility: str,
    challenge: str,
    items: list[Any],
    observed_at: datetime,
    issued_at: datetime,
    nonce: str,
    evidence_format: str = "nvidia-spdm-v1",
) -> dict[str, Any]:
    """HARDWARE.md 2: each item's report and certificate chain (agent.hardware.ChipEvidence), base64."""
    return {
        "v": 1,
        "kind": "evidence",
        "issued_at": format_time(issued_at),
        "nonce": nonce,
        "operator": operator,
        "facility": facility,
        "observed_at": format_time(observed_at),
        "challenge": challenge,
        "chips": [
            {
                "chip": item.chip,
                "format": evidence_format,
                "report": base64.b64encode(item.report).decode("ascii"),
                "certificates": base64.b64encode(item.certificates).decode("ascii"),
            }
            for item in items
        ],
    }


def serialize(statement: dict[str, Any]) -> bytes:
    """JCS bytes of the statement, after the registry's own schema check."""
    data = jcs(statement)
    try:
        parse_statement(data)
    except ProtocolError as exc:
        raise UsageError(f"the statement would be refused: {exc.detail}") from None
    return data
