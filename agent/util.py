"""Small helpers: durations, instants, private folders and atomic file writes."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.errors import UsageError
from protocol.times import format_time

_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """`10s`, `500ms`, `5m`, `1h30m`, `2d` or a bare number of seconds -> seconds (> 0)."""
    s = str(text).strip().lower()
    try:
        value = float(s)
    except ValueError:
        pos, value = 0, 0.0
        for m in _PART_RE.finditer(s):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if pos != len(s) or not s:
            raise UsageError(f"not a duration: {text!r} (use e.g. 10s, 500ms, 5m, 1h, 2d)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"duration must be positive: {text!r}")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def whole_seconds(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def parse_instant(text: str, now: datetime) -> datetime:
    """An instant on the command line: `now`, `-2h` or `2h ago` (relative to now), or ISO 8601 / RFC 3339.

    A time without an offset is taken as UTC, the only zone on the wire.
    """
    s = str(text).strip()
    if s.lower() == "now":
        return now
    if s.startswith("-"):
        return now - timedelta(seconds=parse_duration(s[1:]))
    if s.lower().endswith(" ago"):
        return now - timedelta(seconds=parse_duration(s[:-4]))
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UsageError(
            f"not a time: {text!r} (use RFC 3339 like 2026-11-26T05:00:00Z, 'now', '-24h' or '24h ago')"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def wire_time(dt: datetime) -> str:
    return format_time(dt)


def private_dir(path: Path) -> None:
    """Create `path` and any missing parent with mode 0700 (an existing folder is left as it is).

    The state directory holds every signed statement (which chips are in which
    facility) and the registry's answers: not for other local users to read.
    """
    path = Path(path)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (before SQLite opens it: its WAL and
    shared-memory files then take the same mode)."""
    private_dir(Path(path).parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# Bits that let another user read or change a secret file: anything for "other", writing for the group. A
# group may read it (a key owned by root and readable by the agent's service group is a usual deployment).
EXPOSED_BITS = 0o027
# Bits that let another user change a file the agent trusts without a secret in it (a config file naming a
# token_file, or none): its `url`, `ca_file`, `key` and `log_key` say where the token goes and what is checked.
WRITABLE_BITS = 0o022


def _refuse_foreign_owner(st: os.stat_result, path: Path, what: str) -> None:
    # Whatever its mode, a file's owner reads it and may change it: another user's file (one planted in /tmp
    # and named by $CHIPREG_CONFIG, say) is theirs. As ssh asks of its config, this user's or root's only.
    if os.name == "posix" and st.st_uid not in (0, os.getuid()):
        raise UsageError(f"{what} {path} is owned by another user (uid {st.st_uid}): the agent trusts only its own")


# POSIX access ACL entries (linux/posix_acl_xattr.h): a version word, then (tag, permissions, id) each.
_ACL_HEADER, _ACL_ENTRY = struct.Struct("<I"), struct.Struct("<HHI")
_ACL_USER, _ACL_MASK, _ACL_READ = 0x02, 0x10, 0x4


def _acl_readers(path: Path) -> list[int]:
    """The other users a POSIX ACL on `path` lets read it. The mode's group bits show the ACL's mask, so
    any write it grants, or any read by a group, shows there; a named user's read looks like a service
    group's (`setfacl -m u:bob:r key` leaves a 0600 key reading 0640)."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except (AttributeError, OSError):  # no ACL, no xattr support, not Linux
        return []
    entries = [_ACL_ENTRY.unpack_from(raw, at) for at in range(_ACL_HEADER.size, len(raw), _ACL_ENTRY.size)]
    mask = next((perms for tag, perms, _ in entries if tag == _ACL_MASK), 0o7)
    return [ident for tag, perms, ident in entries if tag == _ACL_USER and perms & mask & _ACL_READ]


def _refuse_open(path: Path, what: str, bits: int, advice: str) -> None:
    """A UsageError when `path` is another user's, or its mode has any of `bits`. A missing file is for the
    reader to report."""
    try:
        st = os.stat(path)
    except OSError:
        return
    _refuse_foreign_owner(st, path, what)
    if os.name == "posix" and st.st_mode & bits:
        raise UsageError(f"{what} {path} {advice.format(mode=f'{st.st_mode & 0o777:04o}', path=path)}")


def refuse_exposed(path: Path, what: str) -> None:
    """A UsageError when the secret file `path` (a token, a private key, a config file holding a token) may be
    read by other users or changed by its group, as ssh refuses an unprotected private key: the secret is
    already spent, and the agent would sign or speak with it."""
    _refuse_open(
        path,
        what,
        EXPOSED_BITS,
        "is open to other users (mode {mode}): run `chmod 600 {path}` (or 640 for a service group)",
    )
    readers = _acl_readers(path) if os.name == "posix" else []
    if readers:
        users = ", ".join(f"user {uid}" for uid in readers)
        raise UsageError(f"{what} {path} has an ACL that opens it to {users}: run `setfacl -b {path}`")


def refuse_writable(path: Path, what: str) -> None:
    """A UsageError when `path`, a file the agent trusts though it holds no secret, may be changed by other
    users (its group included), as ssh refuses such a config file."""
    _refuse_open(path, what, WRITABLE_BITS, "may be changed by other users (mode {mode}): run `chmod go-w {path}`")
    refuse_replaceable(path, what)


def refuse_replaceable(path: Path, what: str) -> None:
    """A UsageError when another user may replace `path`: a folder on its way that others (its group included) may
    write, without the sticky bit that keeps them to their own files (/tmp has it), lets them put another file in
    its place, whatever the file's own mode (ssh's rule for the folders above its config)."""
    if os.name != "posix":
        return
    try:
        folder = Path(path).expanduser().resolve().parent
    except OSError:
        return
    for parent in (folder, *folder.parents):
        try:
            st = os.stat(parent)
        except OSError:
            return
        if st.st_mode & WRITABLE_BITS and not st.st_mode & stat.S_ISVTX:
            raise UsageError(
                f"{what} {path} lies in {parent}, which other users may write (mode {st.st_mode & 0o7777:04o}): "
                f"they could put another file in its place; run `chmod go-w {parent}`"
            )


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half of it."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
