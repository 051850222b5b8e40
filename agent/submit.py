"""Delivering stored envelopes to the registry, and keeping their receipts.

Answers are classified as follows:

- 201 (or 200) naming the attestation's id (and, when it reports one, this
  statement's statement_sha256): accepted; the receipt is fetched, checked
  against the envelope (and the pinned log key when one is configured) and stored;
- 409 `replayed_nonce`: the same envelope was accepted before (a re-send after a
  lost answer); the first acceptance's id is taken from the problem body;
- a 2xx or 409 that names no id (a captive portal's page, garbage), or a 2xx for
  another statement_sha256: nothing shows these bytes were logged; the envelope
  stays queued (exit 4, 5 for the other hash) and is re-sent as is later;
- 5xx, 408, 429, or no answer: the envelope stays queued (exit 4);
- 4xx with a code that judges the statement itself (PERMANENT_CODES): the entry
  is marked refused and kept (exit 3); re-sending the same bytes cannot help;
- any other 4xx (an expired token, a key not registered yet, a facility not
  registered yet, an unexpected 404): the entry stays queued (exit 3), to be
  flushed once the operator has fixed the cause.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agent.client import Registry, Response
from agent.errors import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_VERIFY,
    UnreachableError,
    VerificationError,
)
from agent.outbox import Entry, Outbox
from agent.receipts import envelope_leaf, parse_receipt, verify_receipt
from agent.util import atomic_write

ATTESTATIONS_PATH = "/api/v1/attestations/"
PERMANENT_CODES = frozenset(
    {
        "malformed_envelope",
        "unsupported_payload_type",
        "malformed_statement",
        "stale_statement",
        "future_statement",
        "bad_signature",
        "revoked_key",
        "key_not_authorized",
        "payload_too_large",
        # Evidence over a challenge the registry does not know, used or expired: never answered by resending it.
        "unknown_challenge",
        "used_challenge",
        "expired_challenge",
    }
)
RETRY_STATUSES = frozenset({408, 425, 429})
FIRST_ID_KEYS = ("first_id", "id", "attestation_id", "existing_id", "first")
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_EXIT_RANK = {EXIT_OK: 0, EXIT_REFUSED: 1, EXIT_UNREACHABLE: 2, EXIT_VERIFY: 3}


@dataclass
class Outcome:
    entry_id: int
    status: str  # accepted | already_accepted | queued | refused
    message: str
    exit_code: int = EXIT_OK
    remote: dict[str, Any] = field(default_factory=dict)
    receipt_path: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "outbox_id": self.entry_id,
            "status": self.status,
            "message": self.message,
            "result": self.remote or None,
            "receipt": self.receipt_path,
            "warnings": self.warnings,
        }


def worst(codes: list[int]) -> int:
    return max(codes, key=lambda c: _EXIT_RANK.get(c, 0), default=EXIT_OK)


def safe_id(remote_id: str) -> str:
    if _SAFE_ID_RE.fullmatch(remote_id) and remote_id not in (".", ".."):
        return remote_id
    return hashlib.sha256(remote_id.encode("utf-8")).hexdigest()[:32]


def _remote_id(value: Any) -> str | None:
    """An attestation id from an answer: a non-empty string or integer, else None."""
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value)
    return None


def _proves_another_statement(receipt: Any, envelope: bytes) -> bool:
    """Whether a receipt is well formed but for a leaf that is not this envelope's."""
    try:
        _, leaf, _, _ = parse_receipt(receipt)
        return leaf != envelope_leaf(envelope)[0]
    except VerificationError:
        return False


def _first_id(problem: dict[str, Any]) -> str | None:
    for key in FIRST_ID_KEYS:
        value = _remote_id(problem.get(key))
        if value is not None:
            return value
    return None


class Deliverer:
    def __init__(self, registry: Registry, outbox: Outbox, receipts_dir: Path, log_key: str | None = None):
        self.registry = registry
        self.outbox = outbox
        self.receipts_dir = Path(receipts_dir)
        self.log_key = log_key

    # --- sending ---

    def deliver(self, entry: Entry) -> Outcome:
        """Send one stored envelope, as stored. Raises nothing but unexpected bugs."""
        try:
            resp = self.registry.post_json(ATTESTATIONS_PATH, entry.envelope, label=f"statement {entry.id}")
        except UnreachableError as exc:
            self.outbox.note_attempt(entry.id, str(exc))
            return Outcome(entry.id, "queued", f"{exc}; statement kept in the outbox", EXIT_UNREACHABLE)
        return self._classify(entry, resp)

    def _classify(self, entry: Entry, resp: Response) -> Outcome:
        body_text = resp.body.decode("utf-8", "replace")[:65536]
        if resp.status in (200, 201):
            data = resp.json()
            if not isinstance(data, dict):
                data = {}
            remote_id = _remote_id(data.get("id"))
            sha = data.get("statement_sha256")
            if remote_id is None:  # a captive portal, a proxy's page, or a lie: nothing says it was logged
                return self._unusable(entry, f"answered {resp.describe()} without an attestation id")
            if sha is not None and sha != entry.statement_sha256:
                outcome = self._unusable(
                    entry,
                    f"reports statement_sha256 {sha}, but the signed statement's is {entry.statement_sha256}",
                )
                outcome.exit_code = EXIT_VERIFY
                return outcome
            log_index = data.get("log_index") if isinstance(data.get("log_index"), int) else None
            self.outbox.mark_accepted(entry.id, remote_id, log_index, body_text)
            outcome = Outcome(entry.id, "accepted", f"accepted as {remote_id}, log index {log_index}", remote=data)
            self._receipt(self.outbox.get(entry.id), outcome)
            return outcome
        problem = resp.problem
        if resp.status == 409 and resp.code == "replayed_nonce":
            remote_id = _first_id(problem)
            if remote_id is None:
                return self._unusable(entry, f"answered {resp.describe()} naming no first_id")
            self.outbox.mark_accepted(entry.id, remote_id, None, body_text)
            outcome = Outcome(
                entry.id, "already_accepted", f"already accepted earlier as {remote_id}", remote={"id": remote_id}
            )
            self._receipt(self.outbox.get(entry.id), outcome)
            return outcome
        if resp.status >= 500 or resp.status in RETRY_STATUSES:
            msg = f"registry answered {resp.describe()}"
            self.outbox.note_attempt(entry.id, msg)
            return Outcome(entry.id, "queued", f"{msg}; statement kept in the outbox", EXIT_UNREACHABLE)
        if resp.code in PERMANENT_CODES:
            msg = f"registry refused the statement: {resp.describe()}"
            self.outbox.mark_refused(entry.id, msg, body_text)
            return Outcome(entry.id, "refused", msg, EXIT_REFUSED, remote=problem)
        if 300 <= resp.status < 400:
            where = resp.headers.get("location", "?")
            msg = f"registry redirected to {where}: set the registry URL to the final address"
        else:
            msg = f"registry refused the request: {resp.describe()}"
        self.outbox.note_attempt(entry.id, msg)
        return Outcome(entry.id, "queued", f"{msg}; statement kept in the outbox for `chipreg flush`", EXIT_REFUSED)

    def _unusable(self, entry: Entry, why: str) -> Outcome:
        """An answer that does not show these bytes were accepted: the entry stays queued.

        Re-sending is harmless: the same bytes, and a registry that did accept them
        answers 409 replayed_nonce with the first id.
        """
        msg = f"the registry {why}"
        self.outbox.note_attempt(entry.id, msg)
        return Outcome(entry.id, "queued", f"{msg}; statement kept in the outbox", EXIT_UNREACHABLE)

    # --- receipts ---

    def _receipt(self, entry: Entry, outcome: Outcome) -> None:
        assert entry.remote_id is not None
        path = f"{ATTESTATIONS_PATH}{quote(entry.remote_id, safe='')}/receipt"
        try:
            resp = self.registry.get(path)
        except UnreachableError as exc:
            outcome.warnings.append(f"receipt not fetched ({exc}); `chipreg flush` will retry")
            return
        if resp.status != 200:
            outcome.warnings.append(f"receipt not available yet ({resp.describe()}); `chipreg flush` will retry")
            return
        receipt = resp.json()
        name = safe_id(entry.remote_id)
        try:
            verified = verify_receipt(receipt, self.log_key, entry.envelope)
        except VerificationError as exc:
            bad = self.receipts_dir / f"{name}.receipt.INVALID.json"
            atomic_write(bad, resp.body)
            outcome.exit_code = EXIT_VERIFY
            outcome.warnings.append(f"{exc} (kept in {bad})")
            if _proves_another_statement(receipt, entry.envelope):
                # The id named (a 201's, or a 409's first_id) is another statement's: nothing shows
                # that this one was logged. Queued again; the same bytes are re-sent later.
                msg = f"the registry's id {entry.remote_id} is another statement's; statement kept in the outbox"
                self.outbox.requeue(entry.id, msg)
                outcome.status, outcome.message = "queued", msg
            else:
                atomic_write(self.receipts_dir / f"{name}.envelope.json", entry.envelope)
                self.outbox.set_receipt(entry.id, "invalid", str(bad))
            return
        atomic_write(self.receipts_dir / f"{name}.envelope.json", entry.envelope)
        if entry.log_index is not None and verified.log_index != entry.log_index:
            outcome.exit_code = EXIT_VERIFY
            outcome.warnings.append(
                f"the receipt proves log index {verified.log_index}, the registry announced {entry.log_index}"
            )
        good = self.receipts_dir / f"{name}.receipt.json"
        atomic_write(good, json.dumps(receipt, indent=1, ensure_ascii=False).encode("utf-8"))
        self.outbox.set_receipt(entry.id, "stored", str(good))
        outcome.receipt_path = str(good)
        if not self.log_key:
            outcome.warnings.append("no log key pinned: the receipt's checkpoint signature was not checked")

    def retry_receipts(self) -> list[Outcome]:
        outcomes = []
        for entry in self.outbox.receipts_pending():
            outcome = Outcome(entry.id, "accepted", f"receipt for {entry.remote_id}")
            self._receipt(entry, outcome)
            outcomes.append(outcome)
        return outcomes

    def flush(self) -> list[Outcome]:
        """Send every queued envelope, oldest first; stop at the first sign of an unreachable registry."""
        outcomes = []
        for entry in self.outbox.pending():
            outcome = self.deliver(entry)
            outcomes.append(outcome)
            if outcome.exit_code == EXIT_UNREACHABLE:
                break
        else:
            outcomes.extend(self.retry_receipts())
        return outcomes
