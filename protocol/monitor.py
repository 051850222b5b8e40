"""Watch a registry's log from outside: the monitor that detects a split view.

A monitor pins the log's verifier key and remembers the last checkpoint it
accepted. Each run fetches the current checkpoint, checks its signature, and
asks the registry to prove that the new tree extends the remembered one. A
registry that shows different histories to different parties must, sooner or
later, either fail that proof or sign two checkpoints that cannot both be
true; both are reported, the second with the two signed notes as evidence.

It lives in `protocol` (stdlib urllib and `protocol` only, no Django) so that
`manage.py log_monitor`, the operator agent and any third party run the same code.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from protocol import merkle, note
from protocol.encoding import b64decode_std
from protocol.errors import ProtocolError

MAX_RESPONSE_BYTES = 1 << 20
STATE_VERSION = 1


class MonitorError(Exception):
    """Anything that stops a run; exit_code tells the kind (1: could not check)."""

    exit_code = 1


class StatePinned(MonitorError):
    """The state file remembers another key: a watch of one log is never continued under another key."""


class NoKey(MonitorError):
    """Neither a key line nor a state that pins one."""


class SignatureFailure(MonitorError):
    """A checkpoint (served, or remembered in the state) is not signed by the pinned key."""

    exit_code = 2


class SplitView(MonitorError):
    """Two checkpoints signed by the log that cannot both be prefixes of one tree."""

    exit_code = 3

    def __init__(self, message, seen=None, served=None):
        super().__init__(message)
        self.seen = seen  # the remembered signed note
        self.served = served  # the newly served signed note


@dataclass(frozen=True)
class Outcome:
    status: str  # "first", "unchanged", "extended"
    size: int
    root: bytes
    previous_size: int | None
    checkpoint: str

    def describe(self):
        if self.status == "first":
            return f"first checkpoint: size {self.size}"
        if self.status == "unchanged":
            return f"unchanged: size {self.size}"
        return f"consistent: size {self.previous_size} -> {self.size}"


def api_url(base, path, **params):
    """`base` is the registry's root URL (or its /api/v1); path is relative to /api/v1/."""
    base = base.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    url = f"{base}/{path}"
    return f"{url}?{urllib.parse.urlencode(params)}" if params else url


def fetch(url, timeout=10.0):
    """GET a URL; return the body. Non-2xx, network errors and oversize bodies raise MonitorError."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise MonitorError(f"only http(s) URLs are fetched: {url}")
    headers = {"Accept": "*/*", "User-Agent": "chipreg-log-monitor/1"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        raise MonitorError(f"GET {url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise MonitorError(f"GET {url}: {exc}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise MonitorError(f"GET {url}: response larger than {MAX_RESPONSE_BYTES} bytes")
    return body


def verify(text, key, what):
    try:
        return note.verify_checkpoint(text, key)
    except ProtocolError as exc:
        raise SignatureFailure(f"{what} does not verify under the pinned key: {exc.detail}") from None


def consistency_hashes(base, first, second, fetcher=fetch):
    """The registry's consistency proof, parsed strictly; a malformed answer proves nothing."""
    body = fetcher(api_url(base, "log/proof/consistency", first=first, second=second))
    try:
        doc = json.loads(body)
        if doc.get("first") != first or doc.get("second") != second or not isinstance(doc.get("hashes"), list):
            raise ValueError("the proof is for other sizes")
        return [b64decode_std(h, "invalid_proof", "proof hash") for h in doc["hashes"]]
    except (ValueError, TypeError, AttributeError, RecursionError, ProtocolError) as exc:
        # RecursionError: JSON nested too deeply to parse is no proof either (not a crash).
        raise SplitView(f"malformed consistency proof {first} -> {second}: {exc}") from None


def check(base, key_line, seen_note=None, fetcher=fetch):
    """Fetch, verify and relate the current checkpoint to the remembered one.

    Raises SignatureFailure, SplitView or MonitorError; returns an Outcome.
    """
    try:
        key = note.parse_verifier_key(key_line)
    except ProtocolError as exc:
        raise MonitorError(f"bad key line: {exc.detail}") from None
    seen = verify(seen_note, key, "the remembered checkpoint") if seen_note is not None else None
    served_note = fetcher(api_url(base, "log/checkpoint")).decode("utf-8", "replace")
    served = verify(served_note, key, "the served checkpoint")
    if seen is None:
        return Outcome("first", served.size, served.root, None, served_note)
    if served.size < seen.size:
        raise SplitView(
            f"rollback: the log serves size {served.size} after having signed size {seen.size}",
            seen_note,
            served_note,
        )
    if served.size == seen.size:
        if served.root != seen.root:
            raise SplitView(f"two different roots signed for size {seen.size}", seen_note, served_note)
        return Outcome("unchanged", served.size, served.root, seen.size, served_note)
    proof = consistency_hashes(base, seen.size, served.size, fetcher) if seen.size else []
    if not merkle.verify_consistency(seen.size, served.size, seen.root, served.root, proof):
        raise SplitView(
            f"the tree of size {served.size} does not extend the checkpoint of size {seen.size}",
            seen_note,
            served_note,
        )
    return Outcome("extended", served.size, served.root, seen.size, served_note)


def load_state(path):
    """The state file's JSON, or None when it does not exist yet."""
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MonitorError(f"cannot read the state file {path}: {exc}; not starting over silently") from None
    if (
        not isinstance(state, dict)
        or state.get("version") != STATE_VERSION
        or not isinstance(state.get("checkpoint"), str)
    ):
        raise MonitorError(f"{path} is not a log monitor state file; not starting over silently")
    return state


def save_state(path, state):
    """Write atomically (temp file, then rename), so a crash never leaves half a state.

    The file is private to its owner (mkstemp's 0600): it pins the key a watch trusts."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".log-monitor-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(base, key_line=None, state_path=None, fetcher=fetch):
    """One monitoring round: check against the state (if any), then remember the new checkpoint.

    The key comes from `key_line`, else from the state (pinned on first use of
    a state file); a state pinned to another key is refused. The state only
    moves forward: it is written after a successful check.
    """
    state = load_state(state_path) if state_path else None
    if state is not None and key_line is not None and state.get("key") not in (None, key_line):
        raise StatePinned("the state file was pinned to another key line")
    key_line = key_line or (state or {}).get("key")
    if not key_line:
        raise NoKey("no key: pass the log's verifier key line (GET /api/v1/log/key, checked out of band)")
    outcome = check(base, key_line, state["checkpoint"] if state else None, fetcher)
    if state_path:
        save_state(
            state_path,
            {
                "version": STATE_VERSION,
                "url": base,
                "key": key_line,
                "size": outcome.size,
                "checkpoint": outcome.checkpoint,
            },
        )
    return outcome
