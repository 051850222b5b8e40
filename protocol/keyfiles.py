"""Private key files: the one writer and the one reader of every PEM key the project keeps.

The operator agent's signing key, the log's checkpoint key and the registry's
webhook key are all PKCS#8 PEM files, mode 0600, never overwritten. Pure
Python (`cryptography` only, no Django) so the agent and the server share it;
each caller words the failure for its own user (a CLI hint, a settings error).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


class KeyFileError(Exception):
    """A key file that cannot be written or used; the message names the file and why."""


class KeyFileMissing(KeyFileError):
    pass


class KeyFileExists(KeyFileError, FileExistsError):
    """Refused: a key file is never overwritten (also a FileExistsError, for a create-once race)."""


def write_private_key(path: Path | str, private_key: Any, passphrase: bytes | None = None, what="key") -> None:
    """Write `private_key` as PKCS#8 PEM, mode 0600 whatever the umask; never overwrite, never follow a link."""
    if passphrase:
        encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(passphrase)
    else:
        encryption = serialization.NoEncryption()
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path = Path(path)
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileExists(f"refusing to overwrite existing {what} file {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {what} file {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def read_private_key(
    path: Path | str,
    passphrase: bytes | Callable[[], bytes | None] | None = None,
    what="key",
    kinds: tuple[type, ...] = (),
) -> Any:
    """Load a PEM private key (PKCS#8 or traditional). Every failure is one KeyFileError line.

    `passphrase` may be a callable, asked only when the file is encrypted (the
    agent reads an environment variable or prompts); `kinds` restricts the key types.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileMissing(f"{what} not found: {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if b"PRIVATE KEY-----" not in data:
        raise KeyFileError(f"{path} is not a PEM private key")
    encrypted = b"ENCRYPTED" in data
    secret = None
    if encrypted:
        secret = passphrase() if callable(passphrase) else passphrase
        if secret is None:
            raise KeyFileError(f"{what} {path} is encrypted and no passphrase was given")
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        raise KeyFileError(f"{what} {path}: passphrase given for an unencrypted key, or missing") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError(f"{what} {path}: wrong passphrase or corrupt key") from None
        raise KeyFileError(f"{what} {path} is corrupt or not a supported private key") from None
    if kinds and not isinstance(key, kinds):
        names = ", ".join(k.__name__.removesuffix("PrivateKey") for k in kinds)
        raise KeyFileError(f"{path} is not a private key of a supported kind ({names})")
    return key
