"""The operator's signing key: generation, storage (PKCS8 PEM, mode 0600) and loading."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.errors import UsageError
from agent.util import refuse_exposed
from protocol import keyfiles
from protocol.dsse import PublicKey, public_key_from_object
from protocol.errors import ProtocolError

ALGORITHMS = ("ed25519", "p256", "p384")


@dataclass(frozen=True)
class SigningKey:
    private_key: Any
    public: PublicKey

    @property
    def keyid(self) -> str:
        return self.public.keyid

    @property
    def public_pem(self) -> str:
        return self.public.pem


def generate_private_key(algorithm: str) -> Any:
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise UsageError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def passphrase_from_env(var: str, env: dict[str, str] | None = None, required: bool = True) -> bytes | None:
    env = dict(os.environ) if env is None else env
    value = env.get(var)
    if not value:
        if required:
            raise UsageError(f"environment variable {var} (the key passphrase) is not set or empty")
        return None
    return value.encode("utf-8")


def write_private_key(path: Path, private_key: Any, passphrase: bytes | None) -> None:
    """Write the key as PKCS8 PEM with mode 0600; never overwrite an existing file (protocol.keyfiles)."""
    try:
        keyfiles.write_private_key(path, private_key, passphrase, what="key")
    except keyfiles.KeyFileError as exc:
        raise UsageError(str(exc)) from None


def _wrap(private_key: Any) -> SigningKey:
    try:
        public = public_key_from_object(private_key.public_key())
    except ProtocolError as exc:
        raise UsageError(f"unsupported signing key: {exc.detail}") from None
    if not isinstance(private_key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise UsageError("unsupported signing key: use Ed25519, ECDSA P-256 or P-384")
    return SigningKey(private_key, public)


def load_signing_key(
    path: Path, passphrase_env: str, env: dict[str, str] | None = None, interactive: bool | None = None
) -> SigningKey:
    """Load a PKCS8 (or traditional) PEM private key (protocol.keyfiles); every failure is one UsageError line."""
    path = Path(path)

    def passphrase() -> bytes:  # asked only for an encrypted file: $passphrase_env, else a prompt on a terminal
        secret = passphrase_from_env(passphrase_env, env, required=False)
        if secret is not None:
            return secret
        if not (sys.stdin.isatty() if interactive is None else interactive):
            raise UsageError(f"signing key {path} is encrypted: put its passphrase in ${passphrase_env}")
        return getpass.getpass(f"passphrase for {path}: ").encode("utf-8")

    refuse_exposed(path, "signing key")
    try:
        key = keyfiles.read_private_key(path, passphrase, what="signing key")
    except keyfiles.KeyFileMissing as exc:
        raise UsageError(f"{exc} (create one with `chipreg keygen`)") from None
    except keyfiles.KeyFileError as exc:
        raise UsageError(str(exc)) from None
    return _wrap(key)


def load_public_pem(path: Path) -> PublicKey:
    from protocol.dsse import load_public_key

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read public key {path}: {exc.strerror or exc}") from None
    try:
        return load_public_key(data)
    except ProtocolError as exc:
        raise UsageError(f"public key {path}: {exc.detail}") from None
