"""Fallback for `transparency.monitor.check`, for installs that ship only protocol/ and agent/.

transparency/monitor.py (Django-free) is the reference implementation and is
used whenever it can be imported; this module has the same interface (check,
Outcome, MonitorError, SignatureFailure, SplitView) and the same verdicts, so
the agent behaves identically on an operator's host where the registry's
`transparency` package is not installed. tests/agent/test_agent_monitor.py runs
every scenario against both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from protocol import merkle, note
from protocol.encoding import b64decode_std
from protocol.errors import ProtocolError


class MonitorError(Exception):
    exit_code = 1


class SignatureFailure(MonitorError):
    exit_code = 2


class SplitView(MonitorError):
    exit_code = 3

    def __init__(self, message: str, seen: str | None = None, served: str | None = None):
        super().__init__(message)
        self.seen = seen
        self.served = served


@dataclass(frozen=True)
class Outcome:
    status: str  # "first", "unchanged", "extended"
    size: int
    root: bytes
    previous_size: int | None
    checkpoint: str


def api_url(base: str, path: str, **params: int) -> str:
    base = base.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    return f"{base}/{path}" + (f"?{urlencode(params)}" if params else "")


def _verify(text: str, key: note.VerifierKey, what: str) -> note.Checkpoint:
    try:
        return note.verify_checkpoint(text, key)
    except ProtocolError as exc:
        raise SignatureFailure(f"{what} does not verify under the pinned key: {exc.detail}") from None


def _consistency(base: str, first: int, second: int, fetcher: Callable[[str], bytes]) -> list[bytes]:
    body = fetcher(api_url(base, "log/proof/consistency", first=first, second=second))
    try:
        doc = json.loads(body)
        if doc.get("first") != first or doc.get("second") != second or not isinstance(doc.get("hashes"), list):
            raise ValueError("the proof is for other sizes")
        return [b64decode_std(h, "invalid_proof", "proof hash") for h in doc["hashes"]]
    except (ValueError, TypeError, AttributeError, ProtocolError) as exc:
        raise SplitView(f"malformed consistency proof {first} -> {second}: {exc}") from None


def check(base: str, key_line: str, seen_note: str | None, fetcher: Callable[[str], bytes]) -> Outcome:
    try:
        key = note.parse_verifier_key(key_line)
    except ProtocolError as exc:
        raise MonitorError(f"bad key line: {exc.detail}") from None
    seen = _verify(seen_note, key, "the remembered checkpoint") if seen_note is not None else None
    served_note = fetcher(api_url(base, "log/checkpoint")).decode("utf-8", "replace")
    served = _verify(served_note, key, "the served checkpoint")
    if seen is None:
        return Outcome("first", served.size, served.root, None, served_note)
    if served.size < seen.size:
        raise SplitView(
            f"rollback: the log serves size {served.size} after having signed size {seen.size}", seen_note, served_note
        )
    if served.size == seen.size:
        if served.root != seen.root:
            raise SplitView(f"two different roots signed for size {seen.size}", seen_note, served_note)
        return Outcome("unchanged", served.size, served.root, seen.size, served_note)
    proof = _consistency(base, seen.size, served.size, fetcher) if seen.size else []
    if not merkle.verify_consistency(seen.size, served.size, seen.root, served.root, proof):
        raise SplitView(
            f"the tree of size {served.size} does not extend the checkpoint of size {seen.size}",
            seen_note,
            served_note,
        )
    return Outcome("extended", served.size, served.root, seen.size, served_note)
