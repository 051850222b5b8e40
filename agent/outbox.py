"""The local outbox: every signed envelope is stored before it is sent.

SQLite (WAL, synchronous=FULL), one row per envelope with the exact bytes that
are sent, so a queued statement is re-sent as is and never signed twice. Rows
move from `pending` to `accepted` (201, or 409 replayed_nonce: it was accepted
earlier) or `refused` (the registry judged the statement itself bad); a
refused row is kept, with the problem, as the operator's record.

The nonces table records every nonce ever drawn, per key, before the statement
that carries it is signed, so no nonce is used twice even across crashes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError, UsageError
from agent.keys import SigningKey
from agent.util import private_file, utcnow, wire_time
from protocol.dsse import PAYLOAD_TYPE, make_envelope, pae
from protocol.encoding import sha256_hex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (
    keyid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (keyid, nonce)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    keyid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    statement_sha256 TEXT NOT NULL UNIQUE,
    envelope BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'refused')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    last_error TEXT,
    remote_id TEXT,
    log_index INTEGER,
    response TEXT,
    receipt_status TEXT,
    receipt_path TEXT,
    FOREIGN KEY (keyid, nonce) REFERENCES nonces (keyid, nonce)
);
"""


@dataclass(frozen=True)
class Entry:
    id: int
    created_at: str
    kind: str
    keyid: str
    nonce: str
    statement_sha256: str
    envelope: bytes
    status: str
    attempts: int
    last_error: str | None
    remote_id: str | None
    log_index: int | None
    receipt_status: str | None
    receipt_path: str | None


_COLUMNS = (
    "id, created_at, kind, keyid, nonce, statement_sha256, envelope, status, attempts, last_error, "
    "remote_id, log_index, receipt_status, receipt_path"
)
_SELECT = f"SELECT {_COLUMNS} FROM outbox "  # noqa: S608 - constant column list


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            private_file(self.path)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UsageError(f"cannot open outbox {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- nonces and signing ---

    def reserve_nonce(self, keyid: str) -> str:
        """A fresh 16-byte hex nonce, recorded (committed) before anything is signed with it."""
        for _ in range(8):
            nonce = secrets.token_hex(16)
            try:
                self.db.execute(
                    "INSERT INTO nonces (keyid, nonce, created_at) VALUES (?, ?, ?)",
                    (keyid, nonce, wire_time(utcnow())),
                )
                return nonce
            except sqlite3.IntegrityError:
                continue
        raise AgentError("could not draw an unused nonce")  # pragma: no cover - 2**-128 per try

    def nonce_used(self, keyid: str, nonce: str) -> bool:
        row = self.db.execute("SELECT 1 FROM nonces WHERE keyid = ? AND nonce = ?", (keyid, nonce)).fetchone()
        return row is not None

    def sign_and_store(self, key: SigningKey, kind: str, build: Callable[[str], bytes]) -> Entry:
        """Draw a nonce, build the statement bytes with it, sign, and store the envelope.

        The row is committed before this returns: from then on the statement can
        only be sent, never re-signed.
        """
        nonce = self.reserve_nonce(key.keyid)
        statement = build(nonce)
        envelope = make_envelope(statement, [(key.private_key, key.keyid)])
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        sha = sha256_hex(pae(PAYLOAD_TYPE, statement))
        cur = self.db.execute(
            "INSERT INTO outbox (created_at, kind, keyid, nonce, statement_sha256, envelope) VALUES (?, ?, ?, ?, ?, ?)",
            (wire_time(utcnow()), kind, key.keyid, nonce, sha, body),
        )
        return self.get(cur.lastrowid)  # type: ignore[arg-type]

    # --- queries ---

    def get(self, entry_id: int) -> Entry:
        row = self.db.execute(_SELECT + "WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise AgentError(f"no outbox entry {entry_id}")
        return Entry(*row)

    def entries(self, status: str | None = None) -> list[Entry]:
        if status is None:
            rows = self.db.execute(_SELECT + "ORDER BY id")
        else:
            rows = self.db.execute(_SELECT + "WHERE status = ? ORDER BY id", (status,))
        return [Entry(*row) for row in rows]

    def pending(self) -> list[Entry]:
        return self.entries("pending")

    def receipts_pending(self) -> list[Entry]:
        rows = self.db.execute(
            _SELECT + "WHERE status = 'accepted' AND remote_id IS NOT NULL AND receipt_status = 'pending' ORDER BY id"
        )
        return [Entry(*row) for row in rows]

    # --- transitions ---

    def note_attempt(self, entry_id: int, error: str | None) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE id = ?",
            (wire_time(utcnow()), error, entry_id),
        )

    def mark_accepted(self, entry_id: int, remote_id: str | None, log_index: int | None, response: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'accepted', attempts = attempts + 1, last_attempt_at = ?, last_error = NULL, "
            "remote_id = ?, log_index = ?, response = ?, receipt_status = ? WHERE id = ?",
            (wire_time(utcnow()), remote_id, log_index, response, "pending" if remote_id else None, entry_id),
        )

    def mark_refused(self, entry_id: int, error: str, response: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'refused', attempts = attempts + 1, last_attempt_at = ?, last_error = ?, "
            "response = ? WHERE id = ?",
            (wire_time(utcnow()), error, response, entry_id),
        )

    def requeue(self, entry_id: int, error: str) -> None:
        """Back to pending: the answer that marked it accepted turned out to name another statement."""
        self.db.execute(
            "UPDATE outbox SET status = 'pending', last_error = ?, remote_id = NULL, log_index = NULL, "
            "receipt_status = NULL, receipt_path = NULL WHERE id = ?",
            (error, entry_id),
        )

    def set_receipt(self, entry_id: int, status: str, path: str | None) -> None:
        self.db.execute("UPDATE outbox SET receipt_status = ?, receipt_path = ? WHERE id = ?", (status, path, entry_id))
