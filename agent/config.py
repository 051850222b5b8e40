"""Configuration: command-line flags override the environment, which overrides the file.

File: `--config PATH`, else `$CHIPREG_CONFIG`, else `$XDG_CONFIG_HOME/chipreg/agent.toml`
(`~/.config/chipreg/agent.toml`). A missing default file is fine; a missing file
that was named explicitly, or one that is not valid TOML, is a usage error. Keys::

    url = "https://registry.example"      # CHIPREG_URL
    token = "..."                         # CHIPREG_TOKEN (or token_file = "/path")
    key = "/etc/chipreg/signing-key.pem"  # CHIPREG_KEY: the private key (PKCS8 PEM)
    passphrase_env = "CHIPREG_KEY_PASSPHRASE"  # env var holding the key's passphrase
    state_dir = "/var/lib/chipreg"        # CHIPREG_STATE_DIR: outbox, samples, receipts
    operator = "OPR-1"                    # CHIPREG_OPERATOR
    facility = "FAC-1"                    # CHIPREG_FACILITY
    cluster = "CL-1"
    log_key = "registry.example/log+1a2b3c4d+AU..."  # CHIPREG_LOG_KEY: the pinned log verifier key
    timeout = 30                          # seconds, per socket operation and per request (+1 s per 64 KiB sent)
    ca_file = "/etc/ssl/registry-ca.pem"  # extra CA bundle for https

    [models]                              # extra product name -> registry model slug
    "NVIDIA H200 NVL" = "nvidia-h200-nvl"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UsageError
from agent.util import refuse_exposed, refuse_replaceable, refuse_writable

DEFAULT_PASSPHRASE_ENV = "CHIPREG_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
_STR_KEYS = (
    "url",
    "token",
    "token_file",
    "key",
    "passphrase_env",
    "state_dir",
    "operator",
    "facility",
    "cluster",
    "log_key",
    "ca_file",
)
_KNOWN_KEYS = frozenset((*_STR_KEYS, "timeout", "models"))
_ENV = {
    "url": "CHIPREG_URL",
    "token": "CHIPREG_TOKEN",
    "key": "CHIPREG_KEY",
    "state_dir": "CHIPREG_STATE_DIR",
    "operator": "CHIPREG_OPERATOR",
    "facility": "CHIPREG_FACILITY",
    "log_key": "CHIPREG_LOG_KEY",
}


def default_config_path(env: dict[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "chipreg" / "agent.toml"


def default_state_dir(env: dict[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "chipreg"


@dataclass
class Config:
    url: str | None = None
    token: str | None = None
    key: Path | None = None
    passphrase_env: str = DEFAULT_PASSPHRASE_ENV
    state_dir: Path = field(default_factory=lambda: default_state_dir(dict(os.environ)))
    operator: str | None = None
    facility: str | None = None
    cluster: str | None = None
    log_key: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def require_url(self) -> str:
        if not self.url:
            raise UsageError("no registry URL: set CHIPREG_URL, `url` in the config file, or pass --url")
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(f"registry URL must start with http:// or https://: {self.url!r}")
        return self.url

    def require_token(self) -> str:
        if not self.token:
            raise UsageError("no API token: set CHIPREG_TOKEN or `token` in the config file")
        return self.token

    def require_key(self) -> Path:
        if self.key is None:
            raise UsageError("no signing key: set CHIPREG_KEY, `key` in the config file, or pass --key")
        return self.key

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    @property
    def samples_path(self) -> Path:
        return self.state_dir / "samples.sqlite3"

    @property
    def receipts_dir(self) -> Path:
        return self.state_dir / "receipts"

    @property
    def monitor_path(self) -> Path:
        return self.state_dir / "monitor.json"


def _read_file(path: Path, explicit: bool) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file not found: {path}") from None
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise UsageError(f"config file {path}: unknown key(s): {', '.join(unknown)}")
    for key in _STR_KEYS:
        if key in data and not isinstance(data[key], str):
            raise UsageError(f"config file {path}: `{key}` must be a string")
    if "timeout" in data and (isinstance(data["timeout"], bool) or not isinstance(data["timeout"], (int, float))):
        raise UsageError(f"config file {path}: `timeout` must be a number of seconds")
    models = data.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise UsageError(f"config file {path}: [models] must map product names to model slugs")
    return data


def load_config(
    flags: dict[str, Any] | None = None, env: dict[str, str] | None = None, config_path: str | None = None
) -> Config:
    """Merge file, environment and flags (None values in `flags` mean 'not given')."""
    env = dict(os.environ) if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    explicit = config_path is not None or bool(env.get("CHIPREG_CONFIG"))
    path = Path(config_path or env.get("CHIPREG_CONFIG") or default_config_path(env)).expanduser()
    data = _read_file(path, explicit)

    if "token" in data:
        refuse_exposed(path, "config file holding a token")
        refuse_replaceable(path, "config file holding a token")
    elif data:
        # No secret, but its url, ca_file, key and log_key decide where the token goes and what is trusted.
        refuse_writable(path, "config file")
    merged: dict[str, Any] = {k: v for k, v in data.items() if k != "token_file"}
    if "token_file" in data and "token" not in data:
        refuse_exposed(Path(data["token_file"]).expanduser(), "token_file")
        try:
            merged["token"] = Path(data["token_file"]).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read token_file {data['token_file']}: {exc.strerror or exc}") from None
    for key, var in _ENV.items():
        if env.get(var):
            merged[key] = env[var]
    merged.update(flags)

    cfg = Config(config_path=path if path.exists() else None)
    cfg.state_dir = default_state_dir(env)
    for key in ("url", "token", "operator", "facility", "cluster", "log_key", "ca_file"):
        if merged.get(key):
            setattr(cfg, key, str(merged[key]))
    if cfg.url:
        cfg.url = cfg.url.rstrip("/")
    if merged.get("passphrase_env"):
        cfg.passphrase_env = str(merged["passphrase_env"])
    if merged.get("key"):
        cfg.key = Path(str(merged["key"])).expanduser()
    if merged.get("state_dir"):
        cfg.state_dir = Path(str(merged["state_dir"])).expanduser()
    if "timeout" in merged:
        try:
            cfg.timeout = float(merged["timeout"])
        except (TypeError, ValueError):
            raise UsageError(f"timeout must be a number of seconds: {merged['timeout']!r}") from None
        if not cfg.timeout > 0:
            raise UsageError("timeout must be positive")
    cfg.models = dict(data.get("models", {}))
    return cfg
